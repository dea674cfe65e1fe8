// Forwarding one call upstream and streaming the answer back: header hygiene, timeouts, aborts, and
// usage counted as bytes pass. Built on undici's dispatch handler API writing straight to the client's
// socket: no intermediate streams, backpressure by pausing the upstream when the client is slow.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { ProviderApi } from '../policy/snapshot.ts';
import { streamErrorEvents } from '../providers/stream-errors.ts';
import type { Exchange } from '../providers/translate/exchange.ts';
import type { Call } from './call.ts';
import { errorPayload, type GatewayError, gatewayError, sendError, writeError } from './errors.ts';
import type { ResponseFilter, StreamSink } from './plugin.ts';
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
  fromPlugins?: Readonly<Record<string, string>>,
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
  if (fromPlugins !== undefined) for (const name in fromPlugins) out[name] = fromPlugins[name];
  out['x-request-id'] = requestId;
  return out;
}

/**
 * A routed attempt's own request (translated, aliased or signed for a cloud) and how its answer is read
 * back into the client's format (`exchange`, null when it already is).
 */
export interface UpstreamAttempt {
  path: string;
  body: Buffer;
  /** Set on top of the usual upstream headers; `remove` names (or `prefix-` families) are left out. */
  headers: Readonly<Record<string, string>>;
  remove: readonly string[];
  exchange: Exchange | null;
}

/** An attempt that failed before anything reached the client: its status (0 = no answer) or error code. */
export interface UpstreamFailure {
  status: number;
  code?: string;
  retryAfterSeconds?: number;
}

/**
 * Asked when an attempt fails before anything reached the client: null when the failure stands (it is
 * answered as usual), else the next attempt, prepared asynchronously (null then: none could be).
 */
export type Retry = (
  failure: UpstreamFailure,
) => Promise<{ up: Upstream; attempt: UpstreamAttempt } | GatewayError> | null;

function applyAttempt(
  headers: Record<string, string>,
  attempt: UpstreamAttempt | undefined,
): Record<string, string> {
  if (attempt === undefined) return headers;
  for (const name of attempt.remove) {
    if (name.endsWith('-')) {
      for (const h in headers) if (h.startsWith(name)) delete headers[h];
    } else delete headers[name];
  }
  for (const name in attempt.headers) headers[name] = attempt.headers[name];
  return headers;
}

function retryAfterOf(headers: IncomingHttpHeaders): number | undefined {
  const v = headers['retry-after'];
  const n = typeof v === 'string' ? Number(v) : Number.NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** Non-streamed bodies larger than this are sent on unchecked (and reported), never held in memory. */
export const MAX_HELD_BYTES = 32 * 1024 * 1024;

/** Of a non-streamed response only this much of the end is kept: its usage object is there. */
const TAIL_CHARS = 16 * 1024;

function keepTail(call: Call, chunk: Buffer): void {
  const text =
    chunk.length > TAIL_CHARS
      ? chunk.toString('latin1', chunk.length - TAIL_CHARS)
      : chunk.toString('latin1');
  const tail = call.tail === null || call.tail === '' ? text : call.tail + text;
  call.tail = tail.length > TAIL_CHARS ? tail.slice(-TAIL_CHARS) : tail;
}

/** The catalogue's error for an upstream that failed before its response head arrived. */
function failure(err: Error, provider: string, requestId: string): GatewayError {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return gatewayError('upstream_timeout', provider, requestId);
  }
  return gatewayError('upstream_unreachable', provider, requestId, code || 'connection failed');
}

/** The code an upstream failure is recorded under (the connection is cut once the head is out). */
function failureCode(err: Error): string {
  const code = (err as { code?: string }).code ?? '';
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT'
    ? 'upstream_timeout'
    : 'upstream_unreachable';
}

/** One upstream call: undici's handler for it, and the thing the pipeline cancels when the client leaves. */
export class UpstreamCall implements Dispatcher.DispatchHandler {
  readonly call: Call;
  readonly res: ServerResponse;
  readonly up: Upstream;
  /** Headers the gateway already set (x-request-id…), sent with the upstream's. */
  readonly head: OutgoingHttpHeaders;
  readonly filter: ResponseFilter | undefined;
  /** The caller's API: errors are written in its format. */
  readonly clientApi: ProviderApi;
  readonly log: Logger;
  /** The filter's sink the bytes are written to, once the head is known. */
  #stream: StreamSink | undefined;
  /** The client end of a filtered stream has been ended. */
  #ended = false;
  /**
   * A filtered stream's head waits for its first bytes, so a filter that refuses the answer before
   * letting anything through can still send a real HTTP error.
   */
  #headPending = false;
  /** Calls in flight on this gateway (this one included): a flush is only worth a write when alone. */
  readonly #inFlight: () => number;
  /** A non-streamed body being held for `filter.held`. */
  #held: Buffer[] | null = null;
  #heldBytes = 0;
  controller: Dispatcher.DispatchController | null = null;
  cancelled = false;
  started = false;
  #resume: (() => void) | null = null;
  /** Reads the answer back into the client's format (translation, cloud framing); null when not needed. */
  readonly #exchange: Exchange | null;
  readonly #retry: Retry | undefined;
  readonly #clientHeaders: IncomingHttpHeaders;
  /** This attempt failed and the next one is being prepared: its own answer is ignored. */
  #superseded: ReturnType<Retry> = null;

  constructor(
    call: Call,
    clientApi: ProviderApi,
    res: ServerResponse,
    up: Upstream,
    head: OutgoingHttpHeaders,
    filter: ResponseFilter | undefined,
    log: Logger,
    inFlight: () => number,
    clientHeaders: IncomingHttpHeaders = {},
    attempt?: UpstreamAttempt,
    retry?: Retry,
  ) {
    this.call = call;
    this.clientApi = clientApi;
    this.res = res;
    this.up = up;
    this.head = head;
    this.filter = filter;
    this.log = log;
    this.#inFlight = inFlight;
    this.#clientHeaders = clientHeaders;
    this.#exchange = attempt?.exchange ?? null;
    this.#retry = retry;
  }

  /** Hands this attempt's failure to `retry`; true when another attempt takes over. */
  #tryNext(failure: UpstreamFailure): boolean {
    if (this.#retry === undefined || this.cancelled) return false;
    const next = this.#retry(failure);
    if (next === null) return false;
    this.#superseded = next;
    return true;
  }

  /** The next attempt is ready (or none could be): dispatch it, or answer with the error. */
  #continue(): void {
    const pending = this.#superseded;
    if (pending === null) return;
    pending.then(
      (next) => {
        if (this.cancelled || this.res.destroyed) return;
        if ('attempt' in next) {
          dispatch(
            this.call,
            this.clientApi,
            this.res,
            this.head,
            this.#clientHeaders,
            next.up,
            this.filter,
            this.log,
            this.#inFlight,
            next.attempt,
            this.#retry,
          );
          return;
        }
        this.call.outcome = 'error';
        this.call.status = next.status;
        this.call.upstreamError = next.code;
        writeError(this.res, this.head, this.clientApi, next);
      },
      (err: unknown) => this.#checkFailed(err),
    );
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
    const call = this.call;
    if (statusCode >= 400 && this.#tryNext({ status: statusCode, retryAfterSeconds: retryAfterOf(headers) }))
      return;
    call.timings.upstreamHeaders = call.elapsed();
    call.status = statusCode;
    call.upstreamStatus = statusCode;
    const ct = headers['content-type'];
    const exchange = this.#exchange;
    if (exchange !== null) {
      call.tracker = exchange.streamTracker(statusCode, typeof ct === 'string' ? ct : undefined);
      this.head['content-type'] =
        call.tracker !== null ? 'text/event-stream; charset=utf-8' : 'application/json; charset=utf-8';
    } else if (statusCode < 300 && typeof ct === 'string' && ct.startsWith('text/event-stream')) {
      call.tracker = this.up.adapter.streamTracker(call.surface, { hideUsageChunk: call.hideUsageChunk });
    } else {
      call.tail = '';
    }
    const filter = this.filter;
    // A non-streamed answer is held until it is whole (up to MAX_HELD_BYTES), so an upstream that
    // fails half-way gets the client a 502 in its format rather than a cut connection; unless a
    // filter reads it as a stream (it has `stream` and no `held`). An answer in another format is
    // held whole to be converted before anyone reads it.
    const hold =
      call.tracker === null &&
      (filter?.held !== undefined || filter?.stream === undefined || exchange !== null);
    const stream = hold ? undefined : filter?.stream?.(this.#toClient);
    const rewrites =
      hold || stream !== undefined || (call.tracker !== null && (call.hideUsageChunk || exchange !== null));
    const head = this.head;
    for (const name in headers) {
      if (DROP_RESPONSE.has(name) || name.startsWith('proxy-')) continue;
      if (rewrites && name === 'content-length') continue;
      if (exchange !== null && name === 'content-type') continue;
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
    this.#stream = stream;
    if (stream !== undefined) this.#headPending = true;
    else this.res.writeHead(statusCode, head);
  }

  #sendHead(): void {
    if (!this.#headPending) return;
    this.#headPending = false;
    if (!this.res.destroyed) this.res.writeHead(this.call.status, this.head);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const call = this.call;
    if (this.#superseded !== null) return;
    if (call.timings.firstByte === 0) call.timings.firstByte = call.elapsed();
    const tracker = call.tracker;
    if (tracker === null) {
      if (this.#held !== null) this.#hold(chunk);
      else {
        if (this.#stream !== undefined) this.#stream.write(chunk);
        else this.#write(controller, chunk);
        keepTail(call, chunk);
      }
    } else if (this.#stream !== undefined) {
      // A stream guard reuses the tracker's parse of this chunk: the tracker reads it first.
      const out = tracker.push(chunk);
      if (out !== null) this.#stream.write(out);
    } else if (!call.hideUsageChunk && this.#exchange === null) {
      // Bytes go out before they are read for usage, so accounting adds nothing to time to first byte.
      this.#write(controller, chunk);
      tracker.push(chunk);
    } else {
      const out = tracker.push(chunk);
      if (out !== null) this.#write(controller, out);
    }
  }

  onResponseEnd(controller: Dispatcher.DispatchController): void {
    if (this.#superseded !== null) {
      this.#continue();
      return;
    }
    const tracker = this.call.tracker;
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
    for (const c of held) keepTail(this.call, c);
    this.log.warn(
      { reqId: this.call.id, bytes: this.#heldBytes },
      'response too large to check; sent unchecked',
    );
    this.#held = null;
    const res = this.res;
    if (res.destroyed) return;
    res.writeHead(this.call.status, this.head);
    for (const c of held) res.write(c);
  }

  /** The held body is complete: check it, then send head and body in one write. */
  #release(): void {
    const held = this.#held!;
    this.#held = null;
    let raw = held.length === 1 ? held[0] : Buffer.concat(held);
    if (this.#exchange !== null) {
      // Usage as the upstream reported it; the client gets its own format.
      const converted = this.#exchange.answer(this.call.status, raw);
      this.call.upstreamUsage = converted.usage;
      raw = converted.body;
      if (this.filter?.held === undefined) {
        this.#send(raw);
        return;
      }
    }
    let out: Buffer | Promise<Buffer>;
    try {
      const filter = this.filter;
      out = filter?.held === undefined ? raw : filter.held(raw);
    } catch (err) {
      this.#checkFailed(err);
      return;
    }
    // Usage is read from the parsed answer when a filter parsed it, else from its tail.
    if (this.call.upstreamJson === undefined) keepTail(this.call, raw);
    if (out instanceof Promise) out.then(this.#send, (err: unknown) => this.#checkFailed(err));
    else this.#send(out);
  }

  readonly #send = (body: Buffer): void => {
    const res = this.res;
    if (res.destroyed) return;
    this.head['content-length'] = body.length;
    res.writeHead(this.call.status, this.head);
    res.end(body);
  };

  /** A check that throws is a bug: the answer, or the rest of the stream, it could not check is not sent. */
  #checkFailed(err: unknown): void {
    this.log.error({ reqId: this.call.id, err: (err as Error).message }, 'response check failed');
    this.call.upstreamError = 'response_check_failed';
    this.res.destroy();
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    const call = this.call;
    if (this.cancelled || this.res.destroyed) return;
    if (this.#superseded !== null) {
      // The failed attempt's answer was being ignored; its error changes nothing.
      this.#continue();
      return;
    }
    if (
      !this.started &&
      this.#tryNext({ status: 0, code: (err as { code?: string }).code ?? 'connection failed' })
    ) {
      this.#continue();
      return;
    }
    if (this.started && this.#held === null) {
      call.upstreamError = failureCode(err);
      this.#ended = true;
      if (call.tracker === null) {
        // A large answer sent as it came: the head is out, so cutting the connection is all that is left.
        this.res.destroy();
        return;
      }
      // A stream: it ends with the surface's own error event, which the SDKs and agents raise.
      const f = failure(err, this.up.provider.id, call.id);
      const body = JSON.parse(errorPayload(this.clientApi, f)) as unknown;
      const events = streamErrorEvents(call.surface, body, {
        code: f.code,
        type: 'api_error',
        message: f.message,
        sequenceNumber: 0,
      });
      if (!this.res.headersSent) this.res.writeHead(call.upstreamStatus || 200, this.head);
      this.res.end(events);
      return;
    }
    this.#held = null;
    const f = failure(err, this.up.provider.id, call.id);
    call.outcome = 'error';
    call.upstreamError = f.code;
    call.status = f.status;
    writeError(this.res, this.head, this.clientApi, f);
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
      if (this.#ended || this.controller === null) return;
      this.#sendHead();
      this.#write(this.controller, data);
    },
    flush: () => {
      if (this.#headPending) return;
      // Node corks the socket for the rest of the turn at the first write; uncorking sends it now.
      const socket = this.res.socket;
      if (socket !== null && socket.writableCorked > 0 && this.#inFlight() <= 1) socket.uncork();
    },
    end: (data) => {
      if (this.#ended) return;
      this.#ended = true;
      this.#sendHead();
      if (this.res.destroyed) return;
      if (data === undefined) this.res.end();
      else this.res.end(data);
    },
    fail: (err) => {
      this.#ended = true;
      this.#checkFailed(err);
    },
    refuse: (status, body) => {
      if (!this.#headPending || this.#ended) return false;
      this.#headPending = false;
      this.#ended = true;
      this.call.status = status;
      if (this.res.destroyed) return true;
      const json = Buffer.from(JSON.stringify(body));
      const head = this.head;
      head['content-type'] = 'application/json';
      head['content-length'] = json.length;
      delete head['transfer-encoding'];
      delete head['cache-control'];
      this.res.writeHead(status, head);
      this.res.end(json);
      return true;
    },
  };
}

/** Hand the call to undici; the response is written by the handler, so fastify must not send one. */
export function forward(
  call: Call,
  clientApi: ProviderApi,
  clientHeaders: IncomingHttpHeaders,
  reply: FastifyReply,
  up: Upstream,
  filter: ResponseFilter | undefined,
  log: Logger,
  inFlight: () => number,
  attempt?: UpstreamAttempt,
  retry?: Retry,
): void {
  let body: Buffer | null;
  try {
    body = call.bodyChanged ? Buffer.from(JSON.stringify(call.body)) : call.rawBody;
  } catch (err) {
    // A body nested deeper than the stack cannot be re-encoded after a rewrite: the client's error.
    if (!(err instanceof RangeError)) throw err;
    call.outcome = 'error';
    sendError(reply, clientApi, gatewayError('too_deep'));
    return;
  }
  const head = reply.getHeaders() as OutgoingHttpHeaders;
  reply.hijack();
  call.timings.forwarded = call.elapsed();
  dispatch(call, clientApi, reply.raw, head, clientHeaders, up, filter, log, inFlight, attempt, retry, body);
}

/** One attempt: the call's own request, or a routed attempt's. */
function dispatch(
  call: Call,
  clientApi: ProviderApi,
  res: ServerResponse,
  head: OutgoingHttpHeaders,
  clientHeaders: IncomingHttpHeaders,
  up: Upstream,
  filter: ResponseFilter | undefined,
  log: Logger,
  inFlight: () => number,
  attempt: UpstreamAttempt | undefined,
  retry: Retry | undefined,
  encoded?: Buffer | null,
): void {
  const body =
    attempt?.body ?? encoded ?? (call.bodyChanged ? Buffer.from(JSON.stringify(call.body)) : call.rawBody);
  const handler = new UpstreamCall(
    call,
    clientApi,
    res,
    up,
    head,
    filter,
    log,
    inFlight,
    clientHeaders,
    attempt,
    retry,
  );
  call.upstream = handler;
  const timeout = up.provider.timeoutMs;
  try {
    up.pool.dispatch(
      {
        method: 'POST',
        path: attempt?.path ?? call.upstreamPath,
        headers: applyAttempt(upstreamHeaders(clientHeaders, up, call.id, call.upstreamHeaders), attempt),
        body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      },
      handler,
    );
  } catch (err) {
    // The reply is hijacked: an error must be answered here, not by fastify.
    handler.onResponseError(null as unknown as Dispatcher.DispatchController, err as Error);
  }
}
