// Forwarding one call upstream and streaming the answer back: header hygiene, timeouts, aborts, and a
// tap that counts usage as bytes pass (never holding a stream back, except the one event it hides).
import type { IncomingHttpHeaders } from 'node:http';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { RequestContext } from './context.ts';
import { sendError } from './errors.ts';
import type { Upstream } from './upstream.ts';

/** Client request headers never sent upstream: hop-by-hop, credentials, proxy and routing hints. */
const DROP_REQUEST = new Set([
  'host',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'expect',
  'http2-settings',
  'authorization',
  'proxy-authorization',
  'proxy-connection',
  'x-api-key',
  'x-goog-api-key',
  'api-key',
  'cookie',
  'forwarded',
  'via',
  'x-real-ip',
  'x-request-id',
  // Bodies come back uncompressed so usage can be read from them.
  'accept-encoding',
]);

/** Upstream response headers never sent to the client. */
const DROP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-connection',
  'set-cookie',
  'alt-svc',
  'strict-transport-security',
  'x-request-id',
]);

export function upstreamHeaders(
  client: IncomingHttpHeaders,
  up: Upstream,
  requestId: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  const conn = client.connection;
  const listed = conn ? conn.toLowerCase().split(/\s*,\s*/) : null;
  for (const name in client) {
    if (DROP_REQUEST.has(name) || name.startsWith('x-forwarded-') || name.startsWith('proxy-')) continue;
    if (listed?.includes(name)) continue;
    const v = client[name];
    if (v === undefined) continue;
    out[name] = typeof v === 'string' ? v : v.join(', ');
  }
  const defaults = up.adapter.defaultHeaders;
  for (const name in defaults) if (out[name] === undefined) out[name] = defaults[name];
  const fixed = up.headers;
  for (const name in fixed) out[name] = fixed[name];
  out['x-request-id'] = requestId;
  return out;
}

/** Non-streamed bodies up to this size are kept whole for usage; past it only the tail is. */
const COLLECT_LIMIT = 8 * 1024 * 1024;
const TAIL_BYTES = 64 * 1024;

function collect(ctx: RequestContext, chunk: Buffer): void {
  if (ctx.collected !== null) {
    if (ctx.collectedBytes + chunk.length <= COLLECT_LIMIT) {
      ctx.collected.push(chunk);
      ctx.collectedBytes += chunk.length;
      return;
    }
    ctx.tail = Buffer.concat([...ctx.collected, chunk])
      .toString('latin1')
      .slice(-TAIL_BYTES);
    ctx.collected = null;
    return;
  }
  if (ctx.tail !== null) ctx.tail = (ctx.tail + chunk.toString('latin1')).slice(-TAIL_BYTES);
}

class ResponseTap extends Transform {
  readonly ctx: RequestContext;
  constructor(ctx: RequestContext) {
    super();
    this.ctx = ctx;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const ctx = this.ctx;
    if (ctx.timings.firstByte === 0) ctx.timings.firstByte = ctx.elapsed();
    const tracker = ctx.tracker;
    if (tracker === null) {
      collect(ctx, chunk);
      cb(null, chunk);
      return;
    }
    const out = tracker.push(chunk);
    if (out === null) cb();
    else cb(null, out);
  }
  override _flush(cb: TransformCallback): void {
    const tracker = this.ctx.tracker;
    const out = tracker === null ? null : tracker.end();
    if (out === null) cb();
    else cb(null, out);
  }
}

// Failures surface through the destroyed streams and the response's close event.
function onPipelineDone(): void {}

function upstreamFailure(err: unknown): { status: number; code: string; what: string } {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return { status: 504, code: 'upstream_timeout', what: 'did not answer in time' };
  }
  return {
    status: 502,
    code: 'upstream_unreachable',
    what: `could not be reached (${code || 'connection failed'})`,
  };
}

export async function forward(
  ctx: RequestContext,
  clientHeaders: IncomingHttpHeaders,
  reply: FastifyReply,
  up: Upstream,
  guard: ((ctx: RequestContext) => Transform | undefined) | undefined,
): Promise<void> {
  const body = ctx.bodyChanged ? Buffer.from(JSON.stringify(ctx.body)) : ctx.rawBody;
  const abort = new AbortController();
  ctx.abort = abort;
  ctx.timings.forwarded = ctx.elapsed();
  const timeout = up.provider.timeoutMs;
  let res: Awaited<ReturnType<typeof up.pool.request>>;
  try {
    res = await up.pool.request({
      method: 'POST',
      path: ctx.upstreamPath,
      headers: upstreamHeaders(clientHeaders, up, ctx.id),
      body,
      signal: abort.signal,
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
  } catch (err) {
    if (ctx.aborted) return;
    const f = upstreamFailure(err);
    ctx.outcome = 'error';
    ctx.upstreamError = f.code;
    ctx.status = f.status;
    sendError(
      reply,
      ctx.api,
      f.status,
      `Portcullis: provider ${up.provider.id} ${f.what}. Try again; if it persists, tell your platform team (request ${ctx.id}).`,
      f.code,
    );
    return;
  }
  ctx.timings.upstreamHeaders = ctx.elapsed();
  ctx.status = res.statusCode;
  const ct = res.headers['content-type'];
  if (res.statusCode < 300 && typeof ct === 'string' && ct.startsWith('text/event-stream')) {
    ctx.tracker = ctx.adapter.streamTracker(ctx.surface, { hideUsageChunk: ctx.hideUsageChunk });
  } else {
    ctx.collected = [];
  }
  const filter = guard?.(ctx);
  const rewrites = filter !== undefined || (ctx.tracker !== null && ctx.hideUsageChunk);
  const headers = res.headers;
  for (const name in headers) {
    if (DROP_RESPONSE.has(name) || name.startsWith('proxy-')) continue;
    if (rewrites && name === 'content-length') continue;
    const v = headers[name];
    if (v !== undefined) reply.header(name, v);
  }
  const tap = new ResponseTap(ctx);
  if (filter === undefined) pipeline(res.body, tap, onPipelineDone);
  else pipeline(res.body, tap, filter, onPipelineDone);
  reply.code(res.statusCode).send(filter ?? tap);
}
