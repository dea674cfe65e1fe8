// One audit record per inference call, built from the request context once the call is over (after
// settle), and the mapping from the Gateway policy's sink settings to the audit library's.
//
// Content (request and response text) is recorded only for keys whose policy turns `contentLogging`
// on, and only as audit-content.ts redacts it; other keys pay nothing for it.
import type { AuditLog, AuditOutcome, AuditRecord, AuditSinkConfig, HeaderValue } from '../../audit/index.ts';
import type { PipelineHooks, RequestContext } from '../context.ts';
import { CAPTURE_LOCAL, ResponseCapture, requestContent, responseContent } from './audit-content.ts';
import type { HookLogger } from './limits.ts';

export interface AuditHooksOptions {
  log: AuditLog;
  /** Which gateway replica this is (recorded in every record). */
  instance: string;
  logger?: HookLogger;
}

function outcomeOf(ctx: RequestContext): { outcome: AuditOutcome; errorCode?: string } {
  switch (ctx.outcome) {
    case 'denied': {
      const blocked =
        ctx.decision?.code === 'guardrail_blocked' ||
        (ctx.decision?.code.startsWith('guardrail') === true &&
          ctx.input.guardrails.findings.some((f) => f.action === 'block'));
      return { outcome: blocked ? 'blocked' : 'denied' };
    }
    case 'answered':
      return { outcome: 'allowed' };
    case 'forwarded':
      if (ctx.upstreamError !== null) return { outcome: 'error', errorCode: ctx.upstreamError };
      if (ctx.aborted) return { outcome: 'aborted', errorCode: 'client_closed' };
      if (ctx.status >= 400) return { outcome: 'error', errorCode: `upstream_${ctx.status}` };
      return { outcome: 'allowed' };
    default:
      return { outcome: 'error', errorCode: ctx.upstreamError ?? `gateway_${ctx.status || 'error'}` };
  }
}

/** The audit record of a finished call. Never includes the key, only its id. */
export function auditRecord(ctx: RequestContext, instance: string): AuditRecord {
  const input = ctx.input;
  const usage = ctx.usage;
  const decision = ctx.decision;
  const t = ctx.timings;
  const { outcome, errorCode } = outcomeOf(ctx);
  const stripped =
    decision?.allow === true && decision.stripTools.length > 0
      ? decision.stripTools.filter((name) => input.tools.includes(name))
      : [];
  const record: AuditRecord = {
    requestId: ctx.id,
    time: new Date(ctx.startedAt).toISOString(),
    keyId: ctx.key?.id ?? null,
    owner: ctx.key?.owner ?? null,
    team: ctx.key?.team ?? null,
    surface: ctx.surface,
    provider: ctx.provider?.id ?? input.provider,
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
    findings: input.guardrails.findings,
    tools: { stripped, deniedCalls: [] },
    latency: usage?.latency ?? {
      totalMs: t.end,
      upstreamMs: t.upstreamHeaders > 0 ? t.upstreamHeaders - t.forwarded : 0,
      gatewayMs: t.forwarded > 0 ? t.forwarded : t.end,
    },
    policyRevision: ctx.snapshot.revision,
    instance,
    facts: { tools: input.tools, sizes: input.sizes, authStatus: input.auth.status },
  };
  if (input.session !== undefined) record.session = input.session;
  if (input.userAgent !== undefined) record.userAgent = input.userAgent;
  if (errorCode !== undefined) record.errorCode = errorCode;
  return record;
}

export function createAuditHooks(opts: AuditHooksOptions): PipelineHooks {
  const { log, instance, logger } = opts;
  return {
    responseGuardrails(ctx) {
      if (ctx.key?.contentLogging !== true) return undefined;
      const capture = new ResponseCapture(ctx);
      ctx.locals[CAPTURE_LOCAL] = capture;
      return capture;
    },

    async audit(ctx) {
      const record = auditRecord(ctx, instance);
      if (ctx.key?.contentLogging === true) {
        try {
          record.content = await contentOf(ctx);
        } catch (err) {
          // Never store what could not be redacted; the record itself still goes in.
          logger?.error({ reqId: ctx.id, err: (err as Error).message }, 'audit content not recorded');
        }
      }
      try {
        log.append(record);
      } catch (err) {
        // The queue was full and the inline write failed too: the disk is gone. The call is over.
        logger?.error({ reqId: ctx.id, err: (err as Error).message }, 'audit record not written');
      }
    },
  };
}

async function contentOf(ctx: RequestContext): Promise<AuditRecord['content']> {
  const [request, response] = await Promise.all([requestContent(ctx), responseContent(ctx)]);
  const content: NonNullable<AuditRecord['content']> = {};
  if (request !== undefined) content.request = request;
  if (response !== undefined) content.response = response;
  return content;
}

/** A sink as the Gateway kind declares it (headers reference env vars as `{fromEnv, prefix?}`). */
interface PolicySink {
  type: 'jsonl' | 'http';
  headers?: Record<string, { fromEnv: string; prefix?: string } | string>;
  [field: string]: unknown;
}

/** The Gateway policy's `audit.sinks` in the audit library's form (`{fromEnv}` → `{env}`). */
export function auditSinkConfigs(sinks: readonly unknown[]): AuditSinkConfig[] {
  return sinks.map((raw) => {
    const sink = raw as PolicySink;
    if (sink.headers === undefined) return sink as unknown as AuditSinkConfig;
    const headers: Record<string, HeaderValue> = {};
    for (const [name, value] of Object.entries(sink.headers)) {
      headers[name] =
        typeof value === 'string'
          ? value
          : value.prefix === undefined
            ? { env: value.fromEnv }
            : { env: value.fromEnv, prefix: value.prefix };
    }
    return { ...sink, headers } as unknown as AuditSinkConfig;
  });
}
