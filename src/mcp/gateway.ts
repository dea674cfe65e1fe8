// The MCP gateway: one Streamable HTTP endpoint that offers the tools of every upstream MCP server in
// the active policy, named `<server>__<tool>`, filtered per virtual key by the Rego decision.
//
// Stateless: every POST carries its own key, gets a fresh SDK Server + transport bound to the
// snapshot it started with, and answers with JSON. No session ids, no GET stream; upstream
// connections are shared per snapshot (see upstream.ts).

import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import pino from 'pino';
import type { AuthResult } from '../gateway/authenticate.ts';
import { Call, type Outcome } from '../gateway/call.ts';
import { decisionInput } from '../gateway/decision-input.ts';
import { TOOL_ERROR } from '../gateway/outcome.ts';
import { timeOrderedId } from '../gateway/request-id.ts';
import { Stages } from '../gateway/stages.ts';
import type { Decision, DecisionInput } from '../policy/decision.ts';
import type { Snapshot } from '../policy/snapshot.ts';
import { gatewayToolName, splitGatewayToolName } from './names.ts';
import { UpstreamError, type UpstreamOptions, UpstreamPool } from './upstream.ts';

export type McpGuardStage = 'request' | 'response';

export interface McpGuardContext {
  keyId: string;
  server: string;
  tool: string;
  revision: string;
}

/** A guardrail over tool arguments (`request`) and tool results (`response`), as JSON/text. */
export type McpGuard = (
  stage: McpGuardStage,
  text: string,
  context: McpGuardContext,
) => Promise<{ blocked: boolean; reason?: string }>;

export type McpOutcome = 'ok' | 'tool_error' | 'denied' | 'blocked' | 'upstream_error' | 'unauthenticated';

/** One per tools/call (and per tools/list); never carries arguments or results. */
export interface McpAuditEvent {
  kind: 'mcp.tools_list' | 'mcp.tools_call';
  /** ISO-8601 time the call started. */
  at: string;
  revision: string;
  keyId: string | null;
  authStatus: AuthResult['status'];
  server?: string;
  tool?: string;
  decision: { allow: boolean; status: number; code: string };
  outcome: McpOutcome;
  /** Reason shown to the caller when the outcome is not ok. */
  reason?: string;
  /** tools/list: how many tools the key was shown. */
  toolCount?: number;
  latencyMs: number;
  userAgent?: string;
}

export interface McpGatewayOptions {
  /** The active snapshot; undefined until the first policy is loaded (calls get 503). */
  getSnapshot: () => Snapshot | undefined;
  /**
   * The stages every MCP call runs, as inference calls do: authenticators, limits (request rate
   * limits and budgets), the decision, audit with content logging. The inference gateway's
   * (`gateway.pipeline.stages`) in `portcullis serve`; without it, the policy alone decides.
   */
  stages?: Stages;
  /** Called for every tools/list and tools/call (observers; the audit plugin records the calls). */
  audit?: (event: McpAuditEvent) => void;
  guard?: McpGuard;
  /** Route path (default `/mcp`). */
  path?: string;
  upstream?: UpstreamOptions;
  /** Upstream failures while listing tools (the server's tools are left out of the list). */
  onUpstreamError?: (server: string, err: unknown) => void;
}

export interface McpGateway {
  /** Register on fastify: `app.register(gateway.plugin)`. */
  plugin: (app: FastifyInstance) => Promise<void>;
  /** Stops every upstream server (also done by fastify's onClose). */
  close(): Promise<void>;
}

const SERVER_INFO = { name: 'portcullis', version: '0.1.0' };

interface CallContext {
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
    auth: { status: ctx.auth.status, enforced: true },
    key: ctx.auth.key,
    userAgent: ctx.userAgent,
    mcp: extra.mcp,
    findings: extra.findings,
    nowMs,
  });
}

const silent = pino({ level: 'silent' });

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

export function createMcpGateway(options: McpGatewayOptions): McpGateway {
  const stages = options.stages ?? new Stages({ plugins: [], log: silent });
  const path = options.path ?? '/mcp';
  let current: UpstreamPool | undefined;

  // A new snapshot gets a new pool; the old one closes once its in-flight calls are done.
  const poolFor = (snapshot: Snapshot): UpstreamPool => {
    if (current?.snapshot === snapshot) return current;
    const previous = current;
    current = new UpstreamPool(snapshot, options.upstream);
    previous?.retire();
    return current;
  };

  const emit = (event: McpAuditEvent) => {
    try {
      options.audit?.(event);
    } catch {
      // An observer's failure must not turn into a tool failure.
    }
  };

  /** One MCP operation as a call of the shared stages, its facts set; in flight until `end`. */
  const begin = (
    ctx: Pick<CallContext, 'snapshot' | 'auth' | 'userAgent' | 'bodyBytes'>,
    surface: 'mcp.tools_list' | 'mcp.tools_call',
    mcp?: { server: string; tool: string },
    args?: Record<string, unknown>,
  ): Call => {
    const call = new Call(timeOrderedId(), ctx.snapshot, surface, 'mcp', null);
    call.auth = ctx.auth;
    if (args !== undefined) call.body = args;
    call.input = mcpInput(surface, ctx, call.startedAt, { mcp, findings: call.findings });
    stages.begin();
    return call;
  };

  /** Reserve, inspect and decide through the stages (awaited only when one answered with a promise). */
  const admit = async (call: Call, badAuth?: AuthResult): Promise<Decision> => {
    const d = stages.admit(call, badAuth);
    return d instanceof Promise ? await d : d;
  };

  /** The call is over: usage, settlements (a forwarded call keeps its request counted), audit. */
  const end = (call: Call, outcome: Outcome, status: number, answer?: string): void => {
    call.outcome = outcome;
    call.status = status;
    if (answer !== undefined) call.answerText = answer;
    call.timings.end = call.elapsed();
    stages.finish(call, status);
  };

  const event = (call: Call, ctx: Pick<CallContext, 'auth' | 'userAgent'>) => ({
    kind: call.surface as McpAuditEvent['kind'],
    at: new Date(call.startedAt).toISOString(),
    revision: call.snapshot.revision,
    keyId: ctx.auth.key?.id ?? null,
    authStatus: ctx.auth.status,
    userAgent: ctx.userAgent,
  });

  const runGuard = async (
    ctx: CallContext,
    stage: McpGuardStage,
    text: string,
    server: string,
    tool: string,
  ): Promise<string | undefined> => {
    if (!options.guard || ctx.auth.key === null) return undefined;
    try {
      const verdict = await options.guard(stage, text, {
        keyId: ctx.auth.key.id,
        server,
        tool,
        revision: ctx.snapshot.revision,
      });
      return verdict.blocked ? (verdict.reason ?? 'blocked by a guardrail') : undefined;
    } catch {
      return ctx.snapshot.gateway.failMode === 'closed' ? 'the guardrail service is unavailable' : undefined;
    }
  };

  const listTools = async (ctx: CallContext): Promise<{ tools: Tool[] }> => {
    const call = begin(ctx, 'mcp.tools_list');
    const gate = await admit(call);
    if (!gate.allow) {
      const reason = gate.reasons.join(' ');
      emit({
        ...event(call, ctx),
        decision: summary(gate),
        outcome: 'denied',
        reason,
        latencyMs: call.elapsed(),
      });
      end(call, 'denied', gate.status);
      throw new McpError(ErrorCode.InvalidRequest, `Portcullis: ${reason}`);
    }
    const perServer = await ctx.pool.use(() =>
      Promise.all(
        [...ctx.pool.servers.values()].map(async (conn) => {
          let tools: Tool[];
          try {
            tools = await conn.listTools();
          } catch (err) {
            options.onUpstreamError?.(conn.id, err);
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
    emit({
      ...event(call, ctx),
      decision: summary(gate),
      outcome: 'ok',
      toolCount: tools.length,
      latencyMs: call.elapsed(),
    });
    // The upstream servers were asked: the listing counts as a request.
    end(call, 'forwarded', 200);
    return { tools };
  };

  const callTool = async (
    ctx: CallContext,
    name: string,
    args: Record<string, unknown> | undefined,
    signal: AbortSignal,
  ): Promise<CallToolResult> => {
    const target = splitGatewayToolName(name, ctx.pool.servers.keys());
    const server = target?.server ?? '';
    const tool = target?.tool ?? name;
    const call = begin(ctx, 'mcp.tools_call', { server, tool }, args ?? {});
    const decision = await admit(call);
    const finish = (outcome: McpOutcome, result: CallToolResult, reason?: string): CallToolResult => {
      emit({
        ...event(call, ctx),
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
        end(call, 'denied', decision.allow ? 403 : decision.status, answer);
      } else if (outcome === 'blocked') end(call, 'blocked', 400, answer);
      else {
        if (outcome === 'upstream_error') call.upstreamError = 'mcp_upstream_error';
        if (outcome === 'tool_error') call.upstreamError = TOOL_ERROR;
        end(call, 'forwarded', 200, answer);
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
    const blockedArgs = await runGuard(ctx, 'request', JSON.stringify(args ?? {}), server, tool);
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
    const blockedResult = await runGuard(ctx, 'response', resultText(result), server, tool);
    if (blockedResult !== undefined) {
      return finish(
        'blocked',
        toolError(`Portcullis withheld the result of ${server}/${tool}: ${blockedResult}`),
        blockedResult,
      );
    }
    return finish(result.isError ? 'tool_error' : 'ok', result);
  };

  const buildServer = (ctx: CallContext): Server => {
    const server = new Server(SERVER_INFO, {
      capabilities: { tools: {} },
      instructions:
        'Tools of the MCP servers your Portcullis key may use, named <server>__<tool>. ' +
        'Tools outside your tool scope are not listed, and calling them returns an error.',
    });
    server.setRequestHandler(ListToolsRequestSchema, () => listTools(ctx));
    server.setRequestHandler(CallToolRequestSchema, (req, extra) =>
      callTool(ctx, req.params.name, req.params.arguments, extra.signal),
    );
    return server;
  };

  const jsonRpcError = (reply: FastifyReply, status: number, message: string) =>
    reply
      .code(status)
      .type('application/json')
      .send({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });

  const handle = async (req: FastifyRequest, reply: FastifyReply) => {
    const snapshot = options.getSnapshot();
    if (snapshot === undefined) {
      return jsonRpcError(reply, 503, 'Portcullis: no policy is active yet; the gateway is not ready.');
    }
    const authenticated = stages.authenticate(snapshot, { headers: req.headers }, Date.now());
    const auth = authenticated instanceof Promise ? await authenticated : authenticated;
    const userAgent = req.headers['user-agent'];
    if (auth.status !== 'ok' || !auth.key) {
      const ctx = { snapshot, auth, userAgent, bodyBytes: 0 };
      const call = begin(ctx, 'mcp.tools_list');
      const decision = await admit(call, auth);
      const reason = decision.reasons.join(' ') || `Virtual key ${auth.status}.`;
      emit({
        ...event(call, ctx),
        decision: summary(decision),
        outcome: 'unauthenticated',
        reason,
        latencyMs: call.elapsed(),
      });
      const status = decision.allow ? 401 : decision.status;
      end(call, 'denied', status);
      return jsonRpcError(reply, status, `Portcullis: ${reason}`);
    }
    if (req.method !== 'POST') {
      return jsonRpcError(
        reply.header('allow', 'POST'),
        405,
        'This MCP endpoint is stateless: send JSON-RPC with POST; there is no session stream to open or delete.',
      );
    }
    // Mounted inside the inference gateway the body arrives as raw bytes (its JSON parser keeps them
    // for forwarding); mounted alone, fastify has parsed it already.
    let body: unknown = req.body;
    if (Buffer.isBuffer(body)) {
      try {
        body = JSON.parse(body.toString('utf8'));
      } catch {
        return reply
          .code(400)
          .type('application/json')
          .send({
            jsonrpc: '2.0',
            error: { code: -32700, message: 'Parse error: the body is not JSON' },
            id: null,
          });
      }
    }
    const ctx: CallContext = {
      snapshot,
      pool: poolFor(snapshot),
      auth,
      userAgent,
      bodyBytes: Number(req.headers['content-length'] ?? 0),
    };
    const server = buildServer(ctx);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    reply.hijack();
    reply.raw.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req.raw, reply.raw, body);
  };

  const close = async () => {
    const pool = current;
    current = undefined;
    await pool?.close();
  };

  return {
    plugin: async (app: FastifyInstance) => {
      app.route({ method: ['POST', 'GET', 'DELETE'], url: path, handler: handle });
      app.addHook('onClose', close);
    },
    close,
  };
}
