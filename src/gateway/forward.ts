// Forwarding one call upstream and streaming the answer back: header hygiene, timeouts, aborts, and
// usage counted as bytes pass. Built on undici's dispatch handler API writing straight to the client's
// socket: no intermediate streams, backpressure by pausing the upstream when the client is slow.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Transform } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { Dispatcher } from 'undici';
import { adapters } from '../providers/index.ts';
import type { RequestContext } from './context.ts';
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

/**
 * Set (true) on a response transform that may replace a non-streamed response whole: forward then
 * writes the head only when the transform first outputs (or ends), with `ctx.status`, which the
 * transform may have changed (a refused answer becomes the surface's error). Streams are unaffected.
 */
export const REWRITES_HEAD = Symbol.for('portcullis.rewritesHead');

/** Of a non-streamed response only this much of the end is kept: its usage object is there. */
const TAIL_CHARS = 16 * 1024;

function keepTail(ctx: RequestContext, chunk: Buffer): void {
  const text =
    chunk.length > TAIL_CHARS
      ? chunk.toString('latin1', chunk.length - TAIL_CHARS)
      : chunk.toString('latin1');
  const tail = ctx.tail === null || ctx.tail === '' ? text : ctx.tail + text;
  ctx.tail = tail.length > TAIL_CHARS ? tail.slice(-TAIL_CHARS) : tail;
}

function failure(err: Error): { status: number; code: string; what: string } {
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

/** An error response written straight to the socket (the reply is hijacked once forwarding starts). */
export function writeError(
  res: ServerResponse,
  head: OutgoingHttpHeaders,
  ctx: RequestContext,
  status: number,
  message: string,
  code: string,
): void {
  const body = JSON.stringify(adapters[ctx.api].errorBody(status, message, code));
  head['content-type'] = 'application/json; charset=utf-8';
  head['content-length'] = Buffer.byteLength(body);
  res.writeHead(status, head);
  res.end(body);
}

function uncork(res: ServerResponse): void {
  if (res.writableCorked > 0) res.uncork();
}

/** One upstream call: undici's handler for it, and the thing the pipeline cancels when the client leaves. */
export class UpstreamCall implements Dispatcher.DispatchHandler {
  readonly ctx: RequestContext;
  readonly res: ServerResponse;
  readonly up: Upstream;
  /** Headers the gateway already set (x-request-id…), sent with the upstream's. */
  readonly head: OutgoingHttpHeaders;
  readonly filter: Transform | undefined;
  controller: Dispatcher.DispatchController | null = null;
  cancelled = false;
  started = false;
  #resume: (() => void) | null = null;

  constructor(
    ctx: RequestContext,
    res: ServerResponse,
    up: Upstream,
    head: OutgoingHttpHeaders,
    filter: Transform | undefined,
  ) {
    this.ctx = ctx;
    this.res = res;
    this.up = up;
    this.head = head;
    this.filter = filter;
  }

  /** The client went away: stop the upstream request wherever it is. */
  cancel(): void {
    this.cancelled = true;
    this.controller?.abort(new Error('client closed the connection'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.cancelled) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return;
    const ctx = this.ctx;
    ctx.timings.upstreamHeaders = ctx.elapsed();
    ctx.status = statusCode;
    ctx.upstreamStatus = statusCode;
    const ct = headers['content-type'];
    if (statusCode < 300 && typeof ct === 'string' && ct.startsWith('text/event-stream')) {
      ctx.tracker = ctx.adapter.streamTracker(ctx.surface, { hideUsageChunk: ctx.hideUsageChunk });
    } else {
      ctx.tail = '';
    }
    const rewrites = this.filter !== undefined || (ctx.tracker !== null && ctx.hideUsageChunk);
    const head = this.head;
    for (const name in headers) {
      if (DROP_RESPONSE.has(name) || name.startsWith('proxy-')) continue;
      if (rewrites && name === 'content-length') continue;
      const v = headers[name];
      if (v !== undefined && head[name] === undefined) head[name] = v;
    }
    this.started = true;
    if (this.res.destroyed) return;
    const filter = this.filter as (Transform & { [REWRITES_HEAD]?: boolean }) | undefined;
    if (filter?.[REWRITES_HEAD] === true && ctx.tracker === null) {
      // Registered before pipe() so the head goes out before the first byte pipe() writes.
      const res = this.res;
      const writeHead = () => {
        if (res.headersSent || res.destroyed) return;
        res.writeHead(ctx.status, head);
        // A held answer comes out whole, then its end: corked, head, body and the chunked terminator
        // leave in one write instead of two (end() uncorks). Uncorked after this turn regardless, so
        // an answer too large to hold still streams with backpressure.
        res.cork();
        setImmediate(uncork, res);
      };
      filter.once('data', writeHead);
      filter.once('end', writeHead);
    } else {
      this.res.writeHead(statusCode, head);
    }
    if (this.filter !== undefined) {
      this.filter.pipe(this.res);
      this.filter.once('error', () => this.res.destroy());
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const ctx = this.ctx;
    if (ctx.timings.firstByte === 0) ctx.timings.firstByte = ctx.elapsed();
    const tracker = ctx.tracker;
    if (tracker === null) {
      this.#write(controller, chunk);
      keepTail(ctx, chunk);
    } else if (!ctx.hideUsageChunk) {
      // Bytes go out before they are read for usage, so accounting adds nothing to time to first byte.
      this.#write(controller, chunk);
      tracker.push(chunk);
    } else {
      const out = tracker.push(chunk);
      if (out !== null) this.#write(controller, out);
    }
  }

  onResponseEnd(controller: Dispatcher.DispatchController): void {
    const tracker = this.ctx.tracker;
    const out = tracker === null ? null : tracker.end();
    if (out !== null) this.#write(controller, out);
    if (this.filter !== undefined) this.filter.end();
    else this.res.end();
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    const ctx = this.ctx;
    if (this.cancelled || this.res.destroyed) return;
    if (this.started) {
      // Headers are out: the only honest signal left is to cut the connection.
      ctx.upstreamError = failure(err).code;
      this.filter?.destroy();
      this.res.destroy();
      return;
    }
    const f = failure(err);
    ctx.outcome = 'error';
    ctx.upstreamError = f.code;
    ctx.status = f.status;
    writeError(
      this.res,
      this.head,
      ctx,
      f.status,
      `Portcullis: provider ${this.up.provider.id} ${f.what}. Try again; if it persists, tell your platform team (request ${ctx.id}).`,
      f.code,
    );
  }

  #write(controller: Dispatcher.DispatchController, data: Buffer): void {
    const sink = this.filter ?? this.res;
    if (sink.destroyed) return;
    if (!sink.write(data)) {
      controller.pause();
      this.#resume ??= () => controller.resume();
      sink.once('drain', this.#resume);
    }
  }
}

/** Hand the call to undici; the response is written by the handler, so fastify must not send one. */
export function forward(
  ctx: RequestContext,
  clientHeaders: IncomingHttpHeaders,
  reply: FastifyReply,
  up: Upstream,
  guard: ((ctx: RequestContext) => Transform | undefined) | undefined,
): void {
  const body = ctx.bodyChanged ? Buffer.from(JSON.stringify(ctx.body)) : ctx.rawBody;
  const filter = guard?.(ctx);
  const head = reply.getHeaders() as OutgoingHttpHeaders;
  reply.hijack();
  const call = new UpstreamCall(ctx, reply.raw, up, head, filter);
  ctx.upstream = call;
  ctx.timings.forwarded = ctx.elapsed();
  const timeout = up.provider.timeoutMs;
  try {
    up.pool.dispatch(
      {
        method: 'POST',
        path: ctx.upstreamPath,
        headers: upstreamHeaders(clientHeaders, up, ctx.id),
        body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      },
      call,
    );
  } catch (err) {
    // The reply is hijacked: an error must be answered here, not by fastify.
    call.onResponseError(null as unknown as Dispatcher.DispatchController, err as Error);
  }
}
