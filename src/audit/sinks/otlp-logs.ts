// Audit records as OpenTelemetry log records over OTLP/HTTP (protobuf), with the official exporter.
// One log record per audit record: the body is the record itself (a map, so a backend indexes its
// fields), the chain position is in attributes, and the time is the call's time. The exporter's own
// result decides the batch: all of it was accepted, or the runner offers it again.

import { hostname } from 'node:os';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { ExportResultCode, millisToHrTime } from '@opentelemetry/core';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { AuditEntry } from '../record.ts';
import { secretFromEnv } from './env-secret.ts';
import type { AuditSink, HeaderValue, OtlpLogsSinkConfig, SecretFromEnv } from './types.ts';

export interface OtlpLogsSinkOptions extends Omit<OtlpLogsSinkConfig, 'type'> {
  env?: Record<string, string | undefined>;
}

const SCOPE = { name: 'portcullis.audit', version: '1' };

export class OtlpLogsSink implements AuditSink {
  readonly name: string;
  readonly maxBatch: number;
  private readonly exporter: OTLPLogExporter;
  private readonly resource = resourceFromAttributes({
    'service.name': 'portcullis',
    'host.name': hostname(),
  });

  constructor(options: OtlpLogsSinkOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`audit otlp sink: unsupported URL scheme ${url.protocol}`);
    }
    if (url.username || url.password) {
      throw new Error(
        'audit otlp sink: put credentials in a header read from the environment, not in the URL',
      );
    }
    this.name = options.name ?? `otlp:${url.origin}${url.pathname}`;
    this.maxBatch = Math.max(1, Math.floor(options.batchSize ?? 500));
    const env = options.env ?? process.env;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.headers ?? {}))
      headers[k] = headerValue(this.name, k, v, env);
    this.exporter = new OTLPLogExporter({
      url: url.toString(),
      headers,
      timeoutMillis: options.timeoutMs ?? 10_000,
      // One batch at a time: the runner already serialises deliveries.
      concurrencyLimit: 1,
    });
  }

  logRecords(entries: AuditEntry[]): ReadableLogRecord[] {
    const observed = millisToHrTime(Date.now());
    return entries.map((e) => {
      const record = JSON.parse(e.json) as Record<string, unknown> & { time?: string; outcome?: string };
      const ms = Date.parse(record.time ?? '');
      const severity =
        record.outcome === 'error'
          ? SeverityNumber.WARN
          : record.outcome === 'allowed'
            ? SeverityNumber.INFO
            : SeverityNumber.INFO2;
      return {
        hrTime: Number.isNaN(ms) ? observed : millisToHrTime(ms),
        hrTimeObserved: observed,
        severityNumber: severity,
        severityText: record.outcome === 'error' ? 'WARN' : 'INFO',
        eventName: 'portcullis.audit',
        body: record as ReadableLogRecord['body'],
        resource: this.resource,
        instrumentationScope: SCOPE,
        attributes: {
          'portcullis.audit.seq': e.seq,
          'portcullis.audit.hash': e.hash,
          'portcullis.audit.prev_hash': e.prevHash,
        },
        droppedAttributesCount: 0,
      };
    });
  }

  deliver(entries: AuditEntry[]): Promise<void> {
    const records = this.logRecords(entries);
    return new Promise((resolve, reject) => {
      this.exporter.export(records, (result) => {
        if (result.code === ExportResultCode.SUCCESS) resolve();
        else reject(new Error(`OTLP log export failed: ${result.error?.message ?? 'unknown error'}`));
      });
    });
  }

  async close(): Promise<void> {
    await this.exporter.shutdown();
  }
}

function headerValue(
  sink: string,
  name: string,
  value: HeaderValue | SecretFromEnv,
  env: Record<string, string | undefined>,
): string {
  if (typeof value === 'string') return value;
  if ('fromEnv' in value) return secretFromEnv(sink, `header ${name}`, value, env);
  return `${value.prefix ?? ''}${secretFromEnv(sink, `header ${name}`, { fromEnv: value.env }, env)}`;
}
