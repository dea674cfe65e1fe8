// Forwarding one call upstream and streaming the answer back: header hygiene, timeouts, aborts, and
// usage counted as bytes pass. Built on undici's dispatch handler API writing straight to the client's
// socket: no intermediate streams, backpressure by pausing the upstream when the client is slow.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { adapters } from '../providers/index.ts';
import type { RequestContext } from './context.ts';
import type { Upstream } from './upstream.ts';

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection and never pass a proxy. */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
];

/** Client request headers never sent upstream: hop-by-hop, credentials, proxy and routing hints. */
const DROP_REQUEST = new Set([
  ...HOP_BY_HOP,
  'host',
  'content-length',
  'expect',
  'http2-settings',
  'authorization',
  'proxy-authorization',
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
  ...HOP_BY_HOP,
  'proxy-authenticate',
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
 * Where a streamed answer's bytes go next: the next filter, or (last) the client. Writes made in one
 * event-loop turn leave in one socket write.
 */
export interface StreamSink {
  write(data: string | Uint8Array): void;
  /**
   * Asks for what was written so far to leave now rather than with the rest of this turn's writes (the
   * first bytes of an answer). The client end does so only while no other call is in flight: under
   * load a socket write per event costs more than the few microseconds it saves one client.
   */
  flush(): void;
  /** The stream is over; `data` is its last bytes. Writes after the end are ignored. */
  end(data?: string | Uint8Array): void;
  /** A check failed, so the stream cannot be finished honestly: the client's connection is cut. */
  fail(err: unknown): void;
}

/**
 * What a response hook does to the answer on its way to the client. A non-streamed answer is held
 * whole when any hook has `held` (so it can be checked and replaced, status included, before its head
 * goes out), and only hooks with `held` see it; otherwise the bytes pass through the sinks `stream`
 * returns.
 */
export interface ResponseFilter {
  /** The whole non-streamed body (any status): the bytes to send instead. May set `ctx.status`. */
  held?(body: Buffer): Buffer | Promise<Buffer>;
  /**
   * Called once the head is known, for bytes that are not held: the sink they are written to, which
   * passes what it lets through on to `next`; undefined to leave them alone.
   */
  stream?(next: StreamSink): StreamSink | undefined;
}

/** Non-streamed bodies larger than this are sent on unchecked (and reported), never held in memory. */
export const MAX_HELD_BYTES = 32 * 1024 * 1024;

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

/** One upstream call: undici's handler for it, and the thing the pipeline cancels when the client leaves. */
export class UpstreamCall implements Dispatcher.DispatchHandler {
  readonly ctx: RequestContext;
  readonly res: ServerResponse;
  readonly up: Upstream;
  /** Headers the gateway already set (x-request-id…), sent with the upstream's. */
  readonly head: OutgoingHttpHeaders;
  readonly filter: ResponseFilter | undefined;
  readonly log: Logger;
  /** The filter's sink the bytes are written to, once the head is known. */
  #stream: StreamSink | undefined;
  /** The client end of a filtered stream has been ended. */
  #ended = false;
  /** Calls in flight on this gateway (this one included): a flush is only worth a write when alone. */
  readonly #inFlight: () => number;
  /** A non-streamed body being held for `filter.held`. */
  #held: Buffer[] | null = null;
  #heldBytes = 0;
  controller: Dispatcher.DispatchController | null = null;
  cancelled = false;
  started = false;
  #resume: (() => void) | null = null;

  constructor(
    ctx: RequestContext,
    res: ServerResponse,
    up: Upstream,
    head: OutgoingHttpHeaders,
    filter: ResponseFilter | undefined,
    log: Logger,
    inFlight: () => number,
  ) {
    this.ctx = ctx;
    this.res = res;
    this.up = up;
    this.head = head;
    this.filter = filter;
    this.log = log;
    this.#inFlight = inFlight;
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
    const filter = this.filter;
    const hold = filter?.held !== undefined && ctx.tracker === null;
    const stream = hold ? undefined : filter?.stream?.(this.#toClient);
    const rewrites = hold || stream !== undefined || (ctx.tracker !== null && ctx.hideUsageChunk);
    const head = this.head;
    for (const name in headers) {
      if (DROP_RESPONSE.has(name) || name.startsWith('proxy-')) continue;
      if (rewrites && name === 'content-length') continue;
      const v = headers[name];
      if (v !== undefined && head[name] === undefined) head[name] = v;
    }
    this.started = true;
    if (this.res.destroyed) return;
    if (hold) {
      // The head waits for the checked body: it may be replaced, status included.
      this.#held = [];
      return;
    }
    this.res.writeHead(statusCode, head);
    this.#stream = stream;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const ctx = this.ctx;
    if (ctx.timings.firstByte === 0) ctx.timings.firstByte = ctx.elapsed();
    const tracker = ctx.tracker;
    if (tracker === null) {
      if (this.#held !== null) this.#hold(chunk);
      else {
        if (this.#stream !== undefined) this.#stream.write(chunk);
        else this.#write(controller, chunk);
        keepTail(ctx, chunk);
      }
    } else if (this.#stream !== undefined) {
      // A stream guard reuses the tracker's parse of this chunk: the tracker reads it first.
      const out = tracker.push(chunk);
      if (out !== null) this.#stream.write(out);
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
    const stream = this.#stream;
    if (stream !== undefined) {
      if (out !== null) stream.write(out);
      stream.end();
      return;
    }
    if (out !== null) this.#write(controller, out);
    if (this.#held !== null) this.#release();
    else this.res.end();
  }

  #hold(chunk: Buffer): void {
    const held = this.#held!;
    held.push(chunk);
    this.#heldBytes += chunk.length;
    if (this.#heldBytes <= MAX_HELD_BYTES) return;
    for (const c of held) keepTail(this.ctx, c);
    this.log.warn(
      { reqId: this.ctx.id, bytes: this.#heldBytes },
      'response too large to check; sent unchecked',
    );
    this.#held = null;
    const res = this.res;
    if (res.destroyed) return;
    res.writeHead(this.ctx.status, this.head);
    for (const c of held) res.write(c);
  }

  /** The held body is complete: check it, then send head and body in one write. */
  #release(): void {
    const held = this.#held!;
    this.#held = null;
    const raw = held.length === 1 ? held[0] : Buffer.concat(held);
    let out: Buffer | Promise<Buffer>;
    try {
      out = this.filter!.held!(raw);
    } catch (err) {
      this.#checkFailed(err);
      return;
    }
    // Usage is read from the parsed answer when a filter parsed it, else from its tail.
    if (this.ctx.upstreamJson === undefined) keepTail(this.ctx, raw);
    if (out instanceof Promise) out.then(this.#send, (err: unknown) => this.#checkFailed(err));
    else this.#send(out);
  }

  readonly #send = (body: Buffer): void => {
    const res = this.res;
    if (res.destroyed) return;
    this.head['content-length'] = body.length;
    res.writeHead(this.ctx.status, this.head);
    res.end(body);
  };

  /** A check that throws is a bug: the answer, or the rest of the stream, it could not check is not sent. */
  #checkFailed(err: unknown): void {
    this.log.error({ reqId: this.ctx.id, err: (err as Error).message }, 'response check failed');
    this.ctx.upstreamError = 'response_check_failed';
    this.res.destroy();
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    const ctx = this.ctx;
    if (this.cancelled || this.res.destroyed) return;
    if (this.started) {
      // Headers are out: the only honest signal left is to cut the connection.
      ctx.upstreamError = failure(err).code;
      this.#held = null;
      this.#ended = true;
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

  #write(controller: Dispatcher.DispatchController, data: string | Uint8Array): void {
    const res = this.res;
    if (res.destroyed) return;
    if (!res.write(data)) {
      controller.pause();
      this.#resume ??= () => controller.resume();
      res.once('drain', this.#resume);
    }
  }

  /** The last sink of a filtered stream: the client's response, with the upstream paused while it is full. */
  readonly #toClient: StreamSink = {
    write: (data) => {
      if (!this.#ended && this.controller !== null) this.#write(this.controller, data);
    },
    flush: () => {
      // Node corks the socket for the rest of the turn at the first write; uncorking sends it now.
      const socket = this.res.socket;
      if (socket !== null && socket.writableCorked > 0 && this.#inFlight() <= 1) socket.uncork();
    },
    end: (data) => {
      if (this.#ended) return;
      this.#ended = true;
      if (this.res.destroyed) return;
      if (data === undefined) this.res.end();
      else this.res.end(data);
    },
    fail: (err) => {
      this.#ended = true;
      this.#checkFailed(err);
    },
  };
}

/** Hand the call to undici; the response is written by the handler, so fastify must not send one. */
export function forward(
  ctx: RequestContext,
  clientHeaders: IncomingHttpHeaders,
  reply: FastifyReply,
  up: Upstream,
  guard: ((ctx: RequestContext) => ResponseFilter | undefined) | undefined,
  log: Logger,
  inFlight: () => number,
): void {
  const body = ctx.bodyChanged ? Buffer.from(JSON.stringify(ctx.body)) : ctx.rawBody;
  const filter = guard?.(ctx);
  const head = reply.getHeaders() as OutgoingHttpHeaders;
  reply.hijack();
  const call = new UpstreamCall(ctx, reply.raw, up, head, filter, log, inFlight);
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
