// Audit records to a Splunk HTTP Event Collector: one HEC event per record, batched in one POST
// (events concatenated, as HEC accepts them), `Authorization: Splunk <token>` from the environment.
// The event is the sink line `{"seq","prevHash","hash","record"}`; its time is the call's time.
import { Agent, request } from 'undici';
import type { AuditEntry } from '../record.ts';
import { secretFromEnv } from './env-secret.ts';
import type { AuditSink, SplunkSinkConfig } from './types.ts';

export interface SplunkSinkOptions extends Omit<SplunkSinkConfig, 'type'> {
  env?: Record<string, string | undefined>;
}

export class SplunkHecSink implements AuditSink {
  readonly name: string;
  readonly maxBatch: number;
  private readonly url: URL;
  private readonly authorization: string;
  private readonly meta: { index?: string; source: string; sourcetype: string };
  private readonly agent: Agent;

  constructor(options: SplunkSinkOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`audit splunk sink: unsupported URL scheme ${url.protocol}`);
    }
    if (url.username || url.password || url.search) {
      throw new Error(
        'audit splunk sink: the URL carries no credentials or query; the token is read from the environment',
      );
    }
    // A bare host gets the standard event endpoint.
    if (url.pathname === '/' || url.pathname === '') url.pathname = '/services/collector/event';
    this.url = url;
    this.name = options.name ?? `splunk:${url.origin}`;
    this.maxBatch = Math.max(1, Math.floor(options.batchSize ?? 500));
    this.authorization = `Splunk ${secretFromEnv(this.name, 'token', options.token, options.env ?? process.env)}`;
    this.meta = {
      index: options.index,
      source: options.source ?? 'portcullis',
      sourcetype: options.sourcetype ?? 'portcullis:audit',
    };
    const timeout = options.timeoutMs ?? 10_000;
    this.agent = new Agent({ connect: { timeout }, headersTimeout: timeout, bodyTimeout: timeout });
  }

  /** The HEC body for these entries: one JSON event object per line. */
  body(entries: AuditEntry[]): string {
    let out = '';
    for (const e of entries) {
      const record = JSON.parse(e.json) as { time?: string; instance?: string };
      const ms = Date.parse(record.time ?? '');
      const event = {
        time: Number.isNaN(ms) ? Date.now() / 1000 : ms / 1000,
        host: record.instance || undefined,
        ...this.meta,
        event: { seq: e.seq, prevHash: e.prevHash, hash: e.hash, record: JSON.parse(e.json) },
      };
      out += `${JSON.stringify(event)}\n`;
    }
    return out;
  }

  async deliver(entries: AuditEntry[], signal: AbortSignal): Promise<void> {
    const res = await request(this.url, {
      method: 'POST',
      body: this.body(entries),
      headers: { authorization: this.authorization, 'content-type': 'application/json' },
      dispatcher: this.agent,
      signal,
    });
    // HEC answers {"text","code"}; only the code is kept, never echoed text.
    let code: unknown;
    try {
      code = ((await res.body.json()) as { code?: unknown }).code;
    } catch {
      code = undefined;
    }
    if (res.statusCode < 200 || res.statusCode > 299) {
      throw new Error(
        `Splunk HEC answered HTTP ${res.statusCode}${code === undefined ? '' : ` (code ${code})`}`,
      );
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}
