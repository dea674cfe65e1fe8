// pino logger of the gateway: JSON lines; credentials (headers, Gemini's ?key=) are never written.
import { type Logger, pino } from 'pino';

const KEY_PARAM = /([?&](?:key|api[-_]?key)=)[^&#]*/gi;

/** A URL fit for logs: credential query parameters replaced. */
export function safeUrl(url: string): string {
  return url.includes('=') ? url.replace(KEY_PARAM, '$1[redacted]') : url;
}

const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-goog-api-key"]',
  'req.headers["api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["x-goog-api-key"]',
  'headers["api-key"]',
  'headers.cookie',
];

export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  const opts = {
    level,
    base: { service: 'portcullis' },
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: {
      req(req: { method?: string; url?: string; id?: string }) {
        return { method: req.method, url: safeUrl(req.url ?? ''), id: req.id };
      },
    },
  };
  return destination === undefined ? pino(opts) : pino(opts, destination as never);
}
