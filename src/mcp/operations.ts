// The MCP operations as calls of the shared stages: a tools/list or tools/call becomes a Call (surface
// mcp.tools_*, api mcp) that the stages admit (limits, decision), that runs against the upstream MCP
// servers, and that they finish (settlement, audit with content logging). See docs/architecture.md.
import { type CallToolResult, ErrorCode, McpError, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { AuthResult } from '../gateway/authenticate.ts';
import { Call, type Outcome } from '../gateway/call.ts';
import { decisionInput } from '../gateway/decision-input.ts';
import { TOOL_ERROR } from '../gateway/outcome.ts';
import { timeOrderedId } from '../gateway/request-id.ts';
import type { Stages } from '../gateway/stages.ts';
import type { Decision, DecisionInput } from '../policy/decision.ts';
import type { Snapshot } from '../policy/snapshot.ts';
import type { McpAuditEvent, McpGatewayOptions, McpGuardStage, McpOutcome } from './gateway.ts';
import { gatewayToolName, splitGatewayToolName } from './names.ts';
import { UpstreamError, type UpstreamPool } from './upstream.ts';

/** What one HTTP request to the MCP endpoint establishes for the operations in it. */
export interface CallContext {
  snapshot: Snapshot;
  pool: UpstreamPool;
  auth: AuthResult;
  userAgent?: string;
  bodyBytes: number;
}

/** What the policy reads about an MCP operation (a tool offered in a listing included). */
function mcpInput(
  surface: 'mcp.tools_list' | 'mcp.tools_call',
  ctx: Pick<CallContext, 'auth' | 'userAgent' | 'bodyBytes'>,
  nowMs: number,
  extra: { mcp?: { server: string; tool: string }; findings?: DecisionInput['guardrails']['findings'] } = {},
): DecisionInput {
  return decisionInput({
    surface,
    provider: 'mcp',
    sizes: { bodyBytes: ctx.bodyBytes, estimatedInputTokens: 0, maxOutputTokens: 0 },
    auth:
      ctx.auth.reason === undefined
        ? { status: ctx.auth.status, enforced: true }
        : { status: ctx.auth.status, enforced: true, reason: ctx.auth.reason },
    key: ctx.auth.key,
    userAgent: ctx.userAgent,
    mcp: extra.mcp,
    findings: extra.findings,
    nowMs,
  });
}

const summary = (d: Decision) => ({ allow: d.allow, status: d.status, code: d.code });

function toolError(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

/** The text a guardrail sees of a tool result: its text parts and structured content. */
function resultText(result: CallToolResult): string {
  const parts: string[] = [];
  for (const c of result.content ?? []) {
    if (c.type === 'text') parts.push(c.text);
    else if (c.type === 'resource' && 'text' in c.resource) parts.push(String(c.resource.text));
  }
  if (result.structuredContent !== undefined) parts.push(JSON.stringify(result.structuredContent));
  return parts.join('\n');
}

type Observers = Pick<McpGatewayOptions, 'audit' | 'guard' | 'onUpstreamError'>;

export class McpOperations {
  readonly #stages: Stages;
  readonly #options: Observers;

  constructor(stages: Stages, options: Observers) {
    this.#stages = stages;
    this.#options = options;
  }

  /** A request whose key did not authenticate: decided (and audited) as a refused listing. */
  async refuse(
    ctx: Pick<CallContext, 'snapshot' | 'auth' | 'userAgent'>,
  ): Promise<{ status: number; reason: string }> {
    const call = this.#begin({ ...ctx, bodyBytes: 0 }, 'mcp.tools_list');
    const decision = await this.#admit(call, ctx.auth);
    const reason = decision.reasons.join(' ') || `Virtual key ${ctx.auth.status}.`;
    this.#emit({
      ...this.#event(call, ctx),
      decision: summary(decision),
      outcome: 'unauthenticated',
      reason,
      latencyMs: call.elapsed(),
    });
    const status = decision.allow ? 401 : decision.status;
    this.#end(call, 'denied', status);
    return { status, reason };
  }

  #emit(event: McpAuditEvent) {
    try {
      this.#options.audit?.(event);
    } catch {
      // An observer's failure must not turn into a tool failure.
    }
  }

  /** One MCP operation as a call of the shared stages, its facts set; in flight until `end`. */
  #begin(
    ctx: Pick<CallContext, 'snapshot' | 'auth' | 'userAgent' | 'bodyBytes'>,
    surface: 'mcp.tools_list' | 'mcp.tools_call',
    mcp?: { server: string; tool: string },
    args?: Record<string, unknown>,
  ): Call {
    const call = new Call(timeOrderedId(), ctx.snapshot, surface, 'mcp', null);
    call.auth = ctx.auth;
    if (args !== undefined) call.body = args;
    call.input = mcpInput(surface, ctx, call.startedAt, { mcp, findings: call.findings });
    this.#stages.begin();
    this.#stages.observed(call, 'facts');
    return call;
  }

  /** Reserve, inspect and decide through the stages (awaited only when one answered with a promise). */
  async #admit(call: Call, badAuth?: AuthResult): Promise<Decision> {
    const d = this.#stages.admit(call, badAuth);
    return d instanceof Promise ? await d : d;
  }

  /** The call is over: usage, settlements (a forwarded call keeps its request counted), audit. */
  #end(call: Call, outcome: Outcome, status: number, answer?: string): void {
    call.outcome = outcome;
    call.status = status;
    if (answer !== undefined) call.answerText = answer;
    call.timings.end = call.elapsed();
    this.#stages.finish(call, status);
  }

  #event(call: Call, ctx: Pick<CallContext, 'auth' | 'userAgent'>) {
    return {
      kind: call.surface as McpAuditEvent['kind'],
      at: new Date(call.startedAt).toISOString(),
      revision: call.snapshot.revision,
      keyId: ctx.auth.key?.id ?? null,
      authStatus: ctx.auth.status,
      userAgent: ctx.userAgent,
    };
  }

  async #runGuard(
    ctx: CallContext,
    stage: McpGuardStage,
    text: string,
    server: string,
    tool: string,
  ): Promise<string | undefined> {
    if (!this.#options.guard || ctx.auth.key === null) return undefined;
    try {
      const verdict = await this.#options.guard(stage, text, {
        keyId: ctx.auth.key.id,
        server,
        tool,
        revision: ctx.snapshot.revision,
      });
      return verdict.blocked ? (verdict.reason ?? 'blocked by a guardrail') : undefined;
    } catch {
      return ctx.snapshot.gateway.failMode === 'closed' ? 'the guardrail service is unavailable' : undefined;
    }
  }

  async listTools(ctx: CallContext): Promise<{ tools: Tool[] }> {
    const call = this.#begin(ctx, 'mcp.tools_list');
    const gate = await this.#admit(call);
    if (!gate.allow) {
      const reason = gate.reasons.join(' ');
      this.#emit({
        ...this.#event(call, ctx),
        decision: summary(gate),
        outcome: 'denied',
        reason,
        latencyMs: call.elapsed(),
      });
      this.#end(call, 'denied', gate.status);
      throw new McpError(ErrorCode.InvalidRequest, `Portcullis: ${reason}`);
    }
    const perServer = await ctx.pool.use(() =>
      Promise.all(
        [...ctx.pool.servers.values()].map(async (conn) => {
          let tools: Tool[];
          try {
            tools = await conn.listTools();
          } catch (err) {
            this.#options.onUpstreamError?.(conn.id, err);
            return [];
          }
          return tools
            .filter(
              (t) =>
                ctx.snapshot.evaluate(
                  mcpInput('mcp.tools_call', { ...ctx, bodyBytes: 0 }, call.startedAt, {
                    mcp: { server: conn.id, tool: t.name },
                  }),
                ).allow,
            )
            .map((t) => ({ ...t, name: gatewayToolName(conn.id, t.name) }));
        }),
      ),
    );
    const tools = perServer.flat();
    this.#emit({
      ...this.#event(call, ctx),
      decision: summary(gate),
      outcome: 'ok',
      toolCount: tools.length,
      latencyMs: call.elapsed(),
    });
    // The upstream servers were asked: the listing counts as a request.
    this.#end(call, 'forwarded', 200);
    return { tools };
  }

  async callTool(
    ctx: CallContext,
    name: string,
    args: Record<string, unknown> | undefined,
    signal: AbortSignal,
  ): Promise<CallToolResult> {
    const target = splitGatewayToolName(name, ctx.pool.servers.keys());
    const server = target?.server ?? '';
    const tool = target?.tool ?? name;
    const call = this.#begin(ctx, 'mcp.tools_call', { server, tool }, args ?? {});
    const decision = await this.#admit(call);
    const finish = (outcome: McpOutcome, result: CallToolResult, reason?: string): CallToolResult => {
      this.#emit({
        ...this.#event(call, ctx),
        server: target?.server,
        tool,
        decision: summary(decision),
        outcome,
        reason,
        latencyMs: call.elapsed(),
      });
      const answer = resultText(result);
      if (outcome === 'denied') {
        call.reportDeniedCall({ name: `${server || '?'}/${tool}` });
        this.#end(call, 'denied', decision.allow ? 403 : decision.status, answer);
      } else if (outcome === 'blocked') this.#end(call, 'blocked', 400, answer);
      else {
        if (outcome === 'upstream_error') call.upstreamError = 'mcp_upstream_error';
        if (outcome === 'tool_error') call.upstreamError = TOOL_ERROR;
        this.#end(call, 'forwarded', 200, answer);
      }
      return result;
    };
    if (!target) {
      const reason = `Unknown tool ${name}. Gateway tools are named <server>__<tool>; servers: ${[...ctx.pool.servers.keys()].join(', ') || 'none'}.`;
      return finish('denied', toolError(`Portcullis: ${reason}`), reason);
    }
    if (!decision.allow) {
      const reason = decision.reasons.join(' ');
      return finish('denied', toolError(`Portcullis denied this tool call: ${reason}`), reason);
    }
    const conn = ctx.pool.servers.get(server);
    if (!conn) return finish('denied', toolError(`Portcullis: no MCP server ${server}.`), 'unknown server');
    const blockedArgs = await this.#runGuard(ctx, 'request', JSON.stringify(args ?? {}), server, tool);
    if (blockedArgs !== undefined) {
      return finish(
        'blocked',
        toolError(`Portcullis blocked the arguments of ${server}/${tool}: ${blockedArgs}`),
        blockedArgs,
      );
    }
    let result: CallToolResult;
    try {
      result = await ctx.pool.use(() => conn.callTool(tool, args, signal));
    } catch (err) {
      const reason =
        err instanceof UpstreamError
          ? err.message
          : `MCP server '${server}' failed on ${tool}: ${err instanceof Error ? err.message : String(err)}`;
      return finish('upstream_error', toolError(`Portcullis: ${reason}`), reason);
    }
    const blockedResult = await this.#runGuard(ctx, 'response', resultText(result), server, tool);
    if (blockedResult !== undefined) {
      return finish(
        'blocked',
        toolError(`Portcullis withheld the result of ${server}/${tool}: ${blockedResult}`),
        blockedResult,
      );
    }
    return finish(result.isError ? 'tool_error' : 'ok', result);
  }
}
