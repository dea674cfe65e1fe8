// Which upstream failures move a call on to its next target, and how long to wait before doing so.

export type FailureKind = '429' | '5xx' | 'timeout' | 'connection';

export interface RetrySettings {
  on: readonly FailureKind[];
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs: number;
}

/** The kind of a failed attempt: an HTTP status, or an error code of the connection (undici's). */
export function failureKind(status: number, errorCode?: string): FailureKind | undefined {
  if (status === 429) return '429';
  if (status >= 500 && status <= 599) return '5xx';
  if (
    errorCode === 'UND_ERR_HEADERS_TIMEOUT' ||
    errorCode === 'UND_ERR_BODY_TIMEOUT' ||
    errorCode === 'upstream_timeout'
  )
    return 'timeout';
  if (errorCode !== undefined && errorCode !== '') return 'connection';
  return undefined;
}

export function retryable(kind: FailureKind | undefined, s: RetrySettings): kind is FailureKind {
  return kind !== undefined && s.on.includes(kind);
}

/**
 * The wait before attempt `attempt` (2 = the first retry): exponential with full jitter, at most
 * `maxBackoffMs`; an upstream's retry-after raises it, within the same cap.
 */
export function backoffMs(
  attempt: number,
  s: RetrySettings,
  retryAfterSeconds = 0,
  random = Math.random,
): number {
  if (attempt < 2) return 0;
  const ceiling = Math.min(s.maxBackoffMs, s.backoffMs * 2 ** (attempt - 2));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  return Math.min(s.maxBackoffMs, Math.max(jittered, retryAfterSeconds * 1000));
}
