// What a sink is, and the configuration objects the Gateway policy's `audit.sinks` list carries.
import type { AuditEntry } from '../record.ts';

export interface AuditSink {
  /** Stable name: labels the metrics and keys the sink's delivery cursor. Never holds a secret. */
  readonly name: string;
  /** Most entries one `deliver` call takes. */
  readonly maxBatch: number;
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

export type AuditSinkConfig = JsonlSinkConfig | HttpSinkConfig;
