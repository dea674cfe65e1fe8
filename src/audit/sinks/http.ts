// Batched HTTP POST to a SIEM collector. Retries and ordering are the runner's job: this only turns
// one batch into one request and says whether the collector took it.
import { Agent, request } from 'undici';
import { type AuditEntry, entryLine } from '../record.ts';
import type { AuditSink, HeaderValue } from './types.ts';

export interface HttpSinkOptions {
  url: string;
  name?: string;
  headers?: Record<string, HeaderValue>;
  batchSize?: number;
  timeoutMs?: number;
  format?: 'ndjson' | 'json';
  /** Where `{env}` header references are read (default process.env). */
  env?: Record<string, string | undefined>;
}

export class HttpSink implements AuditSink {
  readonly name: string;
  readonly maxBatch: number;
  private readonly url: URL;
  private readonly headers: Record<string, string>;
  private readonly format: 'ndjson' | 'json';
  private readonly timeoutMs: number;
  private readonly agent: Agent;

  constructor(options: HttpSinkOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`audit http sink: unsupported URL scheme ${url.protocol}`);
    }
    if (url.username || url.password) {
      throw new Error(
        'audit http sink: put credentials in a header read from the environment, not in the URL',
      );
    }
    this.url = url;
    // The query string may carry a token: keep it out of the name (a metrics label).
    this.name = options.name ?? `http:${url.origin}${url.pathname}`;
    this.maxBatch = Math.max(1, Math.floor(options.batchSize ?? 500));
    this.format = options.format ?? 'ndjson';
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.headers = resolveHeaders(this.name, options.headers ?? {}, options.env ?? process.env);
    this.headers['content-type'] = this.format === 'json' ? 'application/json' : 'application/x-ndjson';
    this.agent = new Agent({
      connect: { timeout: this.timeoutMs },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  async deliver(entries: AuditEntry[], signal: AbortSignal): Promise<void> {
    const lines = entries.map(entryLine);
    const body = this.format === 'json' ? `[${lines.join(',')}]` : `${lines.join('\n')}\n`;
    const first = entries[0].seq;
    const last = entries[entries.length - 1].seq;
    const res = await request(this.url, {
      method: 'POST',
      body,
      // Lets the collector drop a batch it already has (a retry after a lost response).
      headers: { ...this.headers, 'x-portcullis-audit-seq': `${first}-${last}` },
      dispatcher: this.agent,
      signal,
    });
    // The answer's body is not read: it could echo what was sent, and nothing in it changes the outcome.
    await res.body.dump();
    if (res.statusCode < 200 || res.statusCode > 299) {
      throw new Error(`collector answered HTTP ${res.statusCode}`);
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

function resolveHeaders(
  sink: string,
  headers: Record<string, HeaderValue>,
  env: Record<string, string | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string') {
      out[name.toLowerCase()] = value;
      continue;
    }
    const fromEnv = env[value.env];
    if (fromEnv === undefined || fromEnv === '') {
      throw new Error(
        `audit sink ${sink}: header ${name} reads environment variable ${value.env}, which is not set`,
      );
    }
    out[name.toLowerCase()] = `${value.prefix ?? ''}${fromEnv}`;
  }
  return out;
}
