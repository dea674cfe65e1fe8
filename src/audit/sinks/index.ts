// Builds sinks from the configuration objects of the Gateway policy's `audit.sinks`.
import { resolve } from 'node:path';
import { HttpSink } from './http.ts';
import { JsonlSink } from './jsonl.ts';
import type { AuditSink, AuditSinkConfig } from './types.ts';

export interface SinkContext {
  /** Relative JSONL paths resolve against it. */
  dataDir: string;
  env?: Record<string, string | undefined>;
}

export function createSink(config: AuditSinkConfig, ctx: SinkContext): AuditSink {
  switch (config.type) {
    case 'jsonl':
      return new JsonlSink({
        path: resolve(ctx.dataDir, config.path),
        name: config.name,
        maxBytes: config.maxBytes,
        daily: config.daily,
        keep: config.keep,
      });
    case 'http':
      return new HttpSink({
        url: config.url,
        name: config.name,
        headers: config.headers,
        batchSize: config.batchSize,
        timeoutMs: config.timeoutMs,
        format: config.format,
        env: ctx.env,
      });
    default:
      throw new Error(`unknown audit sink type '${(config as { type?: unknown }).type}'`);
  }
}

export { HttpSink } from './http.ts';
export { JsonlSink } from './jsonl.ts';
export type { AuditSink, AuditSinkConfig, HeaderValue, HttpSinkConfig, JsonlSinkConfig } from './types.ts';
