// Audit records as batched JSON Lines objects in S3 or an S3-compatible store (MinIO, Ceph, R2…).
// One object per delivery, named after the seq range it holds, so a reader lists them in chain
// order and spots a gap or an overlap by name:
//   <prefix><YYYY>/<MM>/<DD>/<first seq, 12 digits>-<last seq, 12 digits>.jsonl[.gz]
// The runner gathers up to `batchSize` records or waits `flushIntervalMs`, whichever comes first;
// meanwhile the records wait in the audit log, so nothing sits only in memory. Signed with SigV4.
import { hostname } from 'node:os';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import aws4 from 'aws4';
import { Agent, request } from 'undici';
import { type AuditEntry, entryLine } from '../record.ts';
import { secretFromEnv } from './env-secret.ts';
import type { AuditSink, S3SinkConfig } from './types.ts';

const gzipAsync = promisify(gzip);

export interface S3SinkOptions extends Omit<S3SinkConfig, 'type'> {
  env?: Record<string, string | undefined>;
  /** Replaces `{instance}` in the prefix (default PORTCULLIS_INSTANCE, else the host name). */
  instance?: string;
}

export class S3Sink implements AuditSink {
  readonly name: string;
  readonly maxBatch: number;
  readonly flushIntervalMs: number;
  private readonly base: URL;
  private readonly pathStyle: boolean;
  private readonly bucket: string;
  private readonly region: string;
  private readonly prefix: string;
  private readonly gzip: boolean;
  private readonly credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  private readonly agent: Agent;

  constructor(options: S3SinkOptions) {
    const env = options.env ?? process.env;
    this.bucket = options.bucket;
    this.region = options.region ?? 'us-east-1';
    this.pathStyle = options.endpoint !== undefined;
    this.base = new URL(options.endpoint ?? `https://${options.bucket}.s3.${this.region}.amazonaws.com`);
    if (this.base.username || this.base.password) {
      throw new Error(
        'audit s3 sink: the endpoint carries no credentials; they are read from the environment',
      );
    }
    const instance = options.instance ?? (env.PORTCULLIS_INSTANCE || hostname());
    this.prefix = (options.prefix ?? 'portcullis/audit/{instance}/').replaceAll('{instance}', instance);
    this.name = options.name ?? `s3:${options.bucket}/${this.prefix}`;
    this.maxBatch = Math.max(1, Math.floor(options.batchSize ?? 10_000));
    this.flushIntervalMs = options.flushIntervalMs ?? 60_000;
    this.gzip = options.gzip !== false;
    this.credentials = {
      accessKeyId: secretFromEnv(this.name, 'accessKeyId', options.accessKeyId, env),
      secretAccessKey: secretFromEnv(this.name, 'secretAccessKey', options.secretAccessKey, env),
    };
    if (options.sessionToken) {
      this.credentials.sessionToken = secretFromEnv(this.name, 'sessionToken', options.sessionToken, env);
    }
    const timeout = options.timeoutMs ?? 30_000;
    this.agent = new Agent({ connect: { timeout }, headersTimeout: timeout, bodyTimeout: timeout });
  }

  /** The object key for a batch. */
  objectKey(entries: AuditEntry[]): string {
    const time = (JSON.parse(entries[0].json) as { time?: string }).time;
    const day = new Date(Date.parse(time ?? '') || Date.now())
      .toISOString()
      .slice(0, 10)
      .replaceAll('-', '/');
    const pad = (n: number) => String(n).padStart(12, '0');
    const last = entries[entries.length - 1].seq;
    return `${this.prefix}${day}/${pad(entries[0].seq)}-${pad(last)}.jsonl${this.gzip ? '.gz' : ''}`;
  }

  async deliver(entries: AuditEntry[], signal: AbortSignal): Promise<void> {
    const text = `${entries.map(entryLine).join('\n')}\n`;
    const body = this.gzip ? await gzipAsync(text) : Buffer.from(text);
    const key = this.objectKey(entries);
    const basePath = this.base.pathname.replace(/\/$/, '');
    const encodedKey = key.split('/').map(encodeURIComponent).join('/');
    const path = this.pathStyle
      ? `${basePath}/${encodeURIComponent(this.bucket)}/${encodedKey}`
      : `/${encodedKey}`;
    const signed = aws4.sign(
      {
        host: this.base.host,
        path,
        method: 'PUT',
        service: 's3',
        region: this.region,
        body,
        headers: {
          'Content-Type': this.gzip ? 'application/gzip' : 'application/x-ndjson',
          'Content-Length': String(body.length),
        },
      },
      this.credentials,
    );
    const res = await request(new URL(path, this.base.origin), {
      method: 'PUT',
      body,
      headers: signed.headers as Record<string, string>,
      dispatcher: this.agent,
      signal,
    });
    // S3 error bodies name the bucket and key, nothing secret, but nothing in them changes the outcome.
    await res.body.dump();
    if (res.statusCode < 200 || res.statusCode > 299) {
      throw new Error(`S3 answered HTTP ${res.statusCode} for ${key}`);
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}
