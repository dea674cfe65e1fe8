// Clients of the upstream MCP servers declared in one policy snapshot. Each connects on first use;
// when the server dies (stdio child exits, HTTP session fails) the connection forgets its client and
// the next call connects afresh. A pool belongs to one snapshot and is closed when that snapshot is
// replaced and its last in-flight call has finished.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  type CallToolResult,
  ErrorCode,
  McpError,
  type Tool,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { McpServer as McpServerDoc } from '../policy/generated/mcpserver.ts';
import type { Snapshot } from '../policy/snapshot.ts';

export type McpServerSpec = McpServerDoc['spec'];
type SecretRef = { fromEnv?: string; fromFile?: string } | undefined;

export interface UpstreamOptions {
  /** Where `fromEnv` references are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Base of relative stdio `cwd` (default process.cwd()). */
  cwd?: string;
}

const CLIENT_INFO = { name: 'portcullis-mcp-gateway', version: '0.1.0' };

/** A failure to reach or use an upstream server, phrased for the developer reading their agent. */
export class UpstreamError extends Error {}

function readSecret(ref: SecretRef, what: string, env: NodeJS.ProcessEnv): string {
  if (ref?.fromEnv) {
    const v = env[ref.fromEnv];
    if (v === undefined)
      throw new UpstreamError(`${what} needs environment variable ${ref.fromEnv}, which is not set`);
    return v;
  }
  if (ref?.fromFile) {
    try {
      return readFileSync(ref.fromFile, 'utf8').trim();
    } catch {
      throw new UpstreamError(`${what} needs file ${ref.fromFile}, which cannot be read`);
    }
  }
  throw new UpstreamError(`${what} has no source`);
}

export class UpstreamConnection {
  readonly id: string;
  readonly spec: McpServerSpec;
  readonly #options: UpstreamOptions;
  #client: Promise<Client> | undefined;
  #tools: Promise<Tool[]> | undefined;
  #closed = false;

  constructor(id: string, spec: McpServerSpec, options: UpstreamOptions = {}) {
    this.id = id;
    this.spec = spec;
    this.#options = options;
  }

  get timeoutMs(): number {
    return this.spec.timeoutMs ?? 60_000;
  }

  #transport(): Transport {
    const env = this.#options.env ?? process.env;
    const spec = this.spec;
    if (spec.transport === 'stdio') {
      const [command, ...args] = spec.command ?? [];
      if (!command) throw new UpstreamError(`MCP server '${this.id}' has no command`);
      const childEnv: Record<string, string> = {};
      for (const [name, ref] of Object.entries(spec.env ?? {})) {
        childEnv[name] = readSecret(ref, `MCP server '${this.id}' (env ${name})`, env);
      }
      return new StdioClientTransport({
        command,
        args,
        env: { ...getDefaultEnvironment(), ...childEnv },
        cwd: resolve(this.#options.cwd ?? process.cwd(), spec.cwd ?? '.'),
        stderr: 'ignore',
      });
    }
    if (!spec.url) throw new UpstreamError(`MCP server '${this.id}' has no url`);
    const headers: Record<string, string> = {};
    for (const [name, ref] of Object.entries(spec.headers ?? {})) {
      headers[name] = readSecret(ref, `MCP server '${this.id}' (header ${name})`, env);
    }
    return new StreamableHTTPClientTransport(new URL(spec.url), { requestInit: { headers } });
  }

  client(): Promise<Client> {
    if (this.#closed) return Promise.reject(new UpstreamError(`MCP server '${this.id}' is shutting down`));
    this.#client ??= this.#connect();
    return this.#client;
  }

  #connect(): Promise<Client> {
    const client = new Client(CLIENT_INFO);
    const forget = () => {
      if (this.#client === mine) {
        this.#client = undefined;
        this.#tools = undefined;
      }
    };
    const mine: Promise<Client> = (async () => {
      client.onclose = forget;
      client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
        this.#tools = undefined;
      });
      try {
        await client.connect(this.#transport(), { timeout: this.timeoutMs });
      } catch (err) {
        forget();
        await client.close().catch(() => {});
        throw new UpstreamError(`MCP server '${this.id}' could not be reached: ${describe(err)}`);
      }
      return client;
    })();
    return mine;
  }

  /** The server's tools, fetched once per connection (and again after `tools/list_changed`). */
  listTools(): Promise<Tool[]> {
    this.#tools ??= (async () => {
      const client = await this.client();
      const tools: Tool[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor ? { cursor } : {}, { timeout: this.timeoutMs });
        tools.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor);
      return tools;
    })();
    const pending = this.#tools;
    pending.catch(() => {
      if (this.#tools === pending) this.#tools = undefined;
    });
    return pending;
  }

  async callTool(
    tool: string,
    args: Record<string, unknown> | undefined,
    signal?: AbortSignal,
  ): Promise<CallToolResult> {
    const client = await this.client();
    try {
      return (await client.callTool({ name: tool, arguments: args }, undefined, {
        timeout: this.timeoutMs,
        signal,
      })) as CallToolResult;
    } catch (err) {
      if (err instanceof McpError && err.code === ErrorCode.ConnectionClosed) {
        throw new UpstreamError(
          `MCP server '${this.id}' stopped while running ${tool} (it crashed or closed the connection). ` +
            'The gateway restarts it on the next call.',
        );
      }
      if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) {
        throw new UpstreamError(
          `MCP server '${this.id}' did not answer ${tool} within ${this.timeoutMs} ms.`,
        );
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const c = this.#client;
    this.#client = undefined;
    this.#tools = undefined;
    if (c) await (await c.catch(() => undefined))?.close().catch(() => {});
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Upstream connections for one snapshot, with a count of calls in flight so retiring waits for them. */
export class UpstreamPool {
  readonly snapshot: Snapshot;
  readonly servers: ReadonlyMap<string, UpstreamConnection>;
  #inFlight = 0;
  #retired = false;
  #closing: Promise<void> | undefined;

  constructor(snapshot: Snapshot, options: UpstreamOptions = {}) {
    this.snapshot = snapshot;
    const servers = new Map<string, UpstreamConnection>();
    for (const doc of snapshot.documents.get('McpServer')?.values() ?? []) {
      servers.set(
        doc.metadata.name,
        new UpstreamConnection(doc.metadata.name, doc.spec as McpServerSpec, options),
      );
    }
    this.servers = servers;
  }

  /** Runs `fn` counted as in flight, so a retired pool closes only after it. */
  async use<T>(fn: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      return await fn();
    } finally {
      this.#inFlight--;
      if (this.#retired && this.#inFlight === 0) void this.close();
    }
  }

  retire(): void {
    this.#retired = true;
    if (this.#inFlight === 0) void this.close();
  }

  close(): Promise<void> {
    this.#closing ??= Promise.all([...this.servers.values()].map((s) => s.close())).then(() => {});
    return this.#closing;
  }
}
