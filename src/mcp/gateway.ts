// The MCP gateway: one Streamable HTTP endpoint that offers the tools of every upstream MCP server in
// the active policy, named `<server>__<tool>`, filtered per virtual key by the Rego decision.
//
// Stateless: every POST carries its own key, gets a fresh SDK Server + transport bound to the
// snapshot it started with, and answers with JSON. No session ids, no GET stream; upstream
// connections are shared per snapshot (see upstream.ts).

import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import pino from 'pino';
import type { AuthResult } from '../gateway/authenticate.ts';
import { Stages } from '../gateway/stages.ts';
import type { Snapshot } from '../policy/snapshot.ts';
import { type CallContext, McpOperations } from './operations.ts';
import { type UpstreamOptions, UpstreamPool } from './upstream.ts';

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

const silent = pino({ level: 'silent' });

export function createMcpGateway(options: McpGatewayOptions): McpGateway {
  const stages = options.stages ?? new Stages({ plugins: [], log: silent });
  const operations = new McpOperations(stages, options);
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

  const buildServer = (ctx: CallContext): Server => {
    const server = new Server(SERVER_INFO, {
      capabilities: { tools: {} },
      instructions:
        'Tools of the MCP servers your Portcullis key may use, named <server>__<tool>. ' +
        'Tools outside your tool scope are not listed, and calling them returns an error.',
    });
    server.setRequestHandler(ListToolsRequestSchema, () => operations.listTools(ctx));
    server.setRequestHandler(CallToolRequestSchema, (req, extra) =>
      operations.callTool(ctx, req.params.name, req.params.arguments, extra.signal),
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
      const { status, reason } = await operations.refuse({ snapshot, auth, userAgent });
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
