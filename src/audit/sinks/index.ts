// Builds sinks from the configuration objects of the Gateway policy's `audit.sinks`.
import { resolve } from 'node:path';
import { HttpSink } from './http.ts';
import { JsonlSink } from './jsonl.ts';
import { OtlpLogsSink } from './otlp-logs.ts';
import { S3Sink } from './s3.ts';
import { SplunkHecSink } from './splunk.ts';
import { SyslogSink } from './syslog.ts';
import type { AuditSink, AuditSinkConfig } from './types.ts';

export interface SinkContext {
  /** Relative JSONL paths (and syslog TLS files) resolve against it. */
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
    case 'syslog': {
      const { type: _, tls, ...rest } = config;
      const file = (p: string | undefined) => (p === undefined ? undefined : resolve(ctx.dataDir, p));
      return new SyslogSink({
        ...rest,
        tls: tls && {
          ...tls,
          caFile: file(tls.caFile),
          certFile: file(tls.certFile),
          keyFile: file(tls.keyFile),
        },
      });
    }
    case 'splunk': {
      const { type: _, ...rest } = config;
      return new SplunkHecSink({ ...rest, env: ctx.env });
    }
    case 'otlp': {
      const { type: _, ...rest } = config;
      return new OtlpLogsSink({ ...rest, env: ctx.env });
    }
    case 's3': {
      const { type: _, ...rest } = config;
      return new S3Sink({ ...rest, env: ctx.env });
    }
    default:
      throw new Error(`unknown audit sink type '${(config as { type?: unknown }).type}'`);
  }
}

export { HttpSink } from './http.ts';
export { JsonlSink } from './jsonl.ts';
export { OtlpLogsSink } from './otlp-logs.ts';
export { S3Sink } from './s3.ts';
export { SplunkHecSink } from './splunk.ts';
export { SyslogSink } from './syslog.ts';
export type {
  AuditSink,
  AuditSinkConfig,
  HeaderValue,
  HttpSinkConfig,
  JsonlSinkConfig,
  OtlpLogsSinkConfig,
  S3SinkConfig,
  SplunkSinkConfig,
  SyslogSinkConfig,
} from './types.ts';
