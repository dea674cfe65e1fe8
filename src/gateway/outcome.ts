// The frozen record of a finished call, built once by the pipeline after settlement: what audit
// stores (with its instance and content), what metrics count. Outcome, stripped tools, denied tool
// calls, latency and cost are decided here and nowhere else.
import type { AuditBudget, AuditOutcome, AuditRecord } from '../audit/index.ts';
import { auditPerson } from '../identity/audit-person.ts';
import type { GuardrailFinding } from '../policy/decision.ts';
import type { Call } from './call.ts';
import { GUARDRAIL_BLOCKED } from './errors.ts';
import { latencyOf } from './usage.ts';

/** `upstreamError` of an MCP tool that ran and reported an error: the call itself succeeded. */
export const TOOL_ERROR = 'tool_error';

/** An audit record before the audit plugin adds its instance and (for content-logging keys) content. */
export type CallRecord = Readonly<Omit<AuditRecord, 'instance' | 'content'>>;

const isResponseBlock = (f: GuardrailFinding): boolean => f.stage === 'response' && f.action === 'block';

function outcomeOf(call: Call): { outcome: AuditOutcome; errorCode?: string } {
  switch (call.outcome) {
    case 'denied': {
      const code = call.decision?.code;
      const blocked =
        code === GUARDRAIL_BLOCKED ||
        (code?.startsWith('guardrail') === true && call.findings.some((f) => f.action === 'block'));
      return { outcome: blocked ? 'blocked' : 'denied' };
    }
    case 'answered':
      return { outcome: 'allowed' };
    case 'blocked':
      return { outcome: 'blocked' };
    case 'forwarded':
      if (call.upstreamError === TOOL_ERROR) return { outcome: 'allowed', errorCode: TOOL_ERROR };
      if (call.upstreamError !== null) return { outcome: 'error', errorCode: call.upstreamError };
      if (call.aborted) return { outcome: 'aborted', errorCode: 'client_closed' };
      // A response filter refused the answer: a tool the key may not use, a blocked finding.
      if (call.deniedCalls.length > 0 || call.findings.some(isResponseBlock)) return { outcome: 'blocked' };
      if (call.status >= 400) return { outcome: 'error', errorCode: `upstream_${call.status}` };
      return { outcome: 'allowed' };
    default:
      return { outcome: 'error', errorCode: call.upstreamError ?? `gateway_${call.status || 'error'}` };
  }
}

/** What the budgets made of the call: its reservation, overshoot, alerts, and the policy's warnings. */
function budgetOf(call: Call): AuditBudget | undefined {
  const warnings = call.decision?.allow === true ? (call.decision.warnings ?? []) : [];
  let out: AuditBudget | undefined;
  for (const s of call.settlements) {
    const b = s.budget;
    if (b === undefined) continue;
    out ??= { reservedUsd: 0 };
    out.reservedUsd += b.reservedUsd;
    if (b.overshootUsd !== undefined) out.overshootUsd = (out.overshootUsd ?? 0) + b.overshootUsd;
    if (b.alerts !== undefined && b.alerts.length > 0) out.alerts = [...(out.alerts ?? []), ...b.alerts];
  }
  if (warnings.length > 0) {
    out ??= { reservedUsd: 0 };
    out.warnings = [...warnings];
  }
  return out;
}

/** The record of a finished call whose facts were built. Never includes the key, only its id. */
export function callRecord(call: Call): CallRecord {
  const input = call.input;
  const usage = call.usage;
  const decision = call.decision;
  const { outcome, errorCode } = outcomeOf(call);
  const record: Omit<AuditRecord, 'instance' | 'content'> = {
    requestId: call.id,
    time: call.startedIso,
    keyId: call.key?.id ?? null,
    owner: call.key?.owner ?? null,
    team: call.key?.team ?? null,
    surface: call.surface,
    provider: input.mcp?.server ?? call.route?.provider.id ?? input.provider,
    model: input.model,
    stream: input.stream,
    tokens: {
      input: usage === null ? 0 : usage.inputTokens + usage.cacheWriteTokens,
      output: usage?.outputTokens ?? 0,
      cached: usage?.cachedInputTokens ?? 0,
    },
    costUsd: usage?.costUsd ?? 0,
    outcome,
    decision:
      decision === null
        ? null
        : { allow: decision.allow, status: decision.status, code: decision.code, reasons: decision.reasons },
    findings: call.findings,
    tools: { stripped: [...call.strippedTools], deniedCalls: call.deniedCalls.map((c) => c.name) },
    latency: usage?.latency ?? latencyOf(call.timings),
    policyRevision: call.snapshot.revision,
    facts: { tools: input.tools, sizes: input.sizes, authStatus: input.auth.status },
  };
  if (input.session !== undefined) record.session = input.session;
  if (input.userAgent !== undefined) record.userAgent = input.userAgent;
  if (errorCode !== undefined) record.errorCode = errorCode;
  if (input.mcp !== undefined) record.mcp = input.mcp;
  const budget = budgetOf(call);
  if (budget !== undefined) record.budget = budget;
  const routing = call.route?.routing;
  if (routing !== undefined) record.route = routing.summary();
  const person = auditPerson(call.key);
  if (person !== undefined) record.person = person;
  return Object.freeze(record);
}
