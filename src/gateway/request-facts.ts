// What an HTTP request says about a call beyond its body: the agent's session, its user agent, the
// Gemini `key` query parameter, the query string to pass upstream.
import type { IncomingHttpHeaders } from 'node:http';
import { isObject } from '../providers/types.ts';

const SESSION_HEADERS = [
  'x-claude-code-session-id',
  'session-id',
  'session_id',
  'conversation_id',
  'x-session-id',
];

export function header(headers: IncomingHttpHeaders, name: string, max: number): string | undefined {
  const v = headers[name];
  if (typeof v !== 'string' || v === '') return undefined;
  return v.length > max ? v.slice(0, max) : v;
}

export function sessionOf(headers: IncomingHttpHeaders): string | undefined {
  for (const name of SESSION_HEADERS) {
    const v = header(headers, name, 128);
    if (v !== undefined) return v;
  }
  return undefined;
}

export function userAgentOf(headers: IncomingHttpHeaders): string | undefined {
  return header(headers, 'user-agent', 256);
}

export function queryKey(query: unknown): string | undefined {
  if (!isObject(query)) return undefined;
  const k = query.key;
  return typeof k === 'string' ? k : undefined;
}

/** The client's query string for upstream, minus any credential. */
export function upstreamQuery(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return '';
  const qs = url.slice(q + 1);
  if (qs === '') return '';
  if (!/(?:^|&)(?:key|api[-_]?key)=/i.test(qs)) return `?${qs}`;
  const params = new URLSearchParams(qs);
  for (const name of [...params.keys()]) if (/^(?:key|api[-_]?key)$/i.test(name)) params.delete(name);
  const rest = params.toString();
  return rest === '' ? '' : `?${rest}`;
}

/** The body as a JSON object, or null when it is empty, not JSON, or not an object. */
export function parseBody(raw: unknown): Record<string, unknown> | null {
  if (!Buffer.isBuffer(raw) || raw.length === 0) return null;
  try {
    const v: unknown = JSON.parse(raw.toString('utf8'));
    return isObject(v) ? v : null;
  } catch {
    return null;
  }
}
