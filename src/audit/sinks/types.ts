// What a sink is, and the configuration objects the Gateway policy's `audit.sinks` list carries.
import type { AuditEntry } from '../record.ts';

export interface AuditSink {
  /** Stable name: labels the metrics and keys the sink's delivery cursor. Never holds a secret. */
  readonly name: string;
  /** Most entries one `deliver` call takes. */
  readonly maxBatch: number;
  /**
   * Waits up to this long for `maxBatch` records before delivering fewer, for sinks where each
   * delivery is costly (one object per batch in S3). The records wait in the audit log meanwhile.
   */
  readonly flushIntervalMs?: number;
  /** The last seq the sink's own output already holds, when it can tell (e.g. a file's last line). */
  recoverCursor?(): number | null;
  /**
   * Takes entries, contiguous and in sequence order, or throws; on a throw the same entries are
   * offered again later, so a sink must take all of them or none.
   */
  deliver(entries: AuditEntry[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

interface SinkConfigBase {
  /** Overrides the derived name (metrics label, cursor file). */
  name?: string;
  /** First retry delay after a failed delivery, doubled per consecutive failure (default 500). */
  retryBaseMs?: number;
  /** Cap on the retry delay (default 30000). */
  retryMaxMs?: number;
}

export interface JsonlSinkConfig extends SinkConfigBase {
  type: 'jsonl';
  /** The active file; relative paths are resolved against the data directory. */
  path: string;
  /** Rotate before a write would take the file past this size (default 100 MiB; 0 turns it off). */
  maxBytes?: number;
  /** Also rotate when the UTC day changes (default false). */
  daily?: boolean;
  /** Rotated files kept as `<path>.1` (newest) … `<path>.<keep>` (default 10). */
  keep?: number;
}

/** A header value: literal text (not for secrets), or read from an environment variable at startup. */
export type HeaderValue = string | { env: string; prefix?: string };

export interface HttpSinkConfig extends SinkConfigBase {
  type: 'http';
  url: string;
  headers?: Record<string, HeaderValue>;
  /** Records per POST (default 500). */
  batchSize?: number;
  /** Connect, response-headers and body timeout per POST (default 10000). */
  timeoutMs?: number;
  /** `ndjson` (default): one JSON entry per line; `json`: a JSON array of entries. */
  format?: 'ndjson' | 'json';
}

/** A secret read from the gateway's environment when the sink is created (the policy names the variable). */
export interface SecretFromEnv {
  fromEnv: string;
}

export interface SyslogSinkConfig extends SinkConfigBase {
  type: 'syslog';
  host: string;
  port: number;
  /** TLS (RFC 5425) unless false; plain TCP only for a collector on a trusted network. */
  tls?: {
    enabled?: boolean;
    /** PEM CA bundle that signed the collector's certificate (default: the system's CAs). */
    caFile?: string;
    /** Client certificate and key for collectors that require mutual TLS. */
    certFile?: string;
    keyFile?: string;
    /** Name checked against the collector's certificate (default: host). */
    serverName?: string;
  };
  /** Syslog facility name (default local0). */
  facility?: string;
  /** APP-NAME field (default portcullis). */
  appName?: string;
  /** Records per delivery (default 200). */
  batchSize?: number;
  timeoutMs?: number;
}

export interface SplunkSinkConfig extends SinkConfigBase {
  type: 'splunk';
  /** Base URL of the HTTP Event Collector, e.g. https://splunk.example.com:8088 */
  url: string;
  token: SecretFromEnv;
  index?: string;
  source?: string;
  sourcetype?: string;
  batchSize?: number;
  timeoutMs?: number;
}

export interface OtlpLogsSinkConfig extends SinkConfigBase {
  type: 'otlp';
  /** OTLP/HTTP logs endpoint, e.g. http://collector:4318/v1/logs */
  url: string;
  headers?: Record<string, HeaderValue | SecretFromEnv>;
  batchSize?: number;
  timeoutMs?: number;
}

export interface S3SinkConfig extends SinkConfigBase {
  type: 's3';
  bucket: string;
  region?: string;
  /** For S3-compatible stores (MinIO, Ceph, R2…); path-style addressing is used with it. */
  endpoint?: string;
  /** Key prefix; `{instance}` is replaced by the gateway instance (default `portcullis/audit/{instance}/`). */
  prefix?: string;
  accessKeyId: SecretFromEnv;
  secretAccessKey: SecretFromEnv;
  sessionToken?: SecretFromEnv;
  /** Records per object (default 10000). */
  batchSize?: number;
  /** Longest a record waits for a full object (default 60000). */
  flushIntervalMs?: number;
  /** gzip the objects (default true). */
  gzip?: boolean;
  timeoutMs?: number;
}

export type AuditSinkConfig =
  | JsonlSinkConfig
  | HttpSinkConfig
  | SyslogSinkConfig
  | SplunkSinkConfig
  | OtlpLogsSinkConfig
  | S3SinkConfig;
