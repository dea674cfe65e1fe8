// MCP calls leave audit records like inference calls do: who called which tool, under which policy
// revision, and what the policy said. Arguments and results are never recorded.
import { randomUUID } from 'node:crypto';
import type { AuditOutcome, AuditRecord } from '../../audit/index.ts';
import type { McpAuditEvent } from '../../mcp/gateway.ts';
import type { Snapshot } from '../../policy/snapshot.ts';

const OUTCOMES: Record<McpAuditEvent['outcome'], { outcome: AuditOutcome; errorCode?: string }> = {
  ok: { outcome: 'allowed' },
  tool_error: { outcome: 'allowed', errorCode: 'tool_error' },
  denied: { outcome: 'denied' },
  unauthenticated: { outcome: 'denied' },
  blocked: { outcome: 'blocked' },
  upstream_error: { outcome: 'error', errorCode: 'mcp_upstream_error' },
};

export function mcpAuditRecord(
  event: McpAuditEvent,
  snapshot: Snapshot | undefined,
  instance: string,
): AuditRecord {
  const key = event.keyId === null ? undefined : snapshot?.keys.get(event.keyId);
  const { outcome, errorCode } = OUTCOMES[event.outcome];
  const denied = event.outcome === 'denied' ? [`${event.server ?? '?'}/${event.tool ?? '?'}`] : [];
  return {
    requestId: randomUUID(),
    time: event.at,
    keyId: event.keyId,
    owner: key?.owner ?? null,
    team: key?.team ?? null,
    userAgent: event.userAgent,
    surface: event.kind,
    provider: event.server ?? '',
    model: '',
    stream: false,
    tokens: { input: 0, output: 0, cached: 0 },
    costUsd: 0,
    outcome,
    decision: {
      allow: event.decision.allow,
      status: event.decision.status,
      code: event.decision.code,
      reasons: event.reason ? [event.reason] : [],
    },
    findings: [],
    tools: { stripped: [], deniedCalls: denied },
    ...(event.server !== undefined && event.tool !== undefined
      ? { mcp: { server: event.server, tool: event.tool } }
      : {}),
    latency: { totalMs: event.latencyMs, upstreamMs: 0, gatewayMs: event.latencyMs },
    policyRevision: event.revision,
    instance,
    ...(errorCode ? { errorCode } : {}),
  };
}
