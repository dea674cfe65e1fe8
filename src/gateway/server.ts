// The gateway's HTTP server: fastify with the inference routes, a body reader bounded by the active
// policy's maxRequestBytes, errors in each API's own format, and the operational endpoints.
import { createServer, type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerFactory,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import { type Registry, register } from 'prom-client';
import type { UsageView } from '../limits/index.ts';
import type { ResolvedKey, Snapshot } from '../policy/snapshot.ts';
import type { Authenticator, AuthResult } from './authenticate.ts';
import { EndingResponse } from './ending-response.ts';
import { errorPayload, type GatewayError, gatewayError, sendError, wireStatus } from './errors.ts';
import { createLogger, safeUrl } from './logger.ts';
import { registerOps } from './ops.ts';
import { Pipeline } from './pipeline.ts';
import type { Plugin } from './plugin.ts';
import { timeOrderedId } from './request-id.ts';
import { API_PREFIXES, apiForUrl, ROUTES, type RouteSpec } from './routes.ts';
import { SnapshotHolder } from './snapshot-holder.ts';
import { Stages } from './stages.ts';
import { Upstreams, type UpstreamsOptions } from './upstream.ts';
import { registerUsage } from './usage-route.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The snapshot this request started with (null before the first one is active). */
    snapshot: Snapshot | null;
    /** The key, checked from the headers before the body was read (inference routes). */
    earlyAuth: AuthResult | undefined;
    /** The key was refused before the body was read: the body is never read, the connection closes. */
    refusedEarly: boolean;
  }
}

/** What a call refused before its body was read is decided on: no facts beyond the headers. */
const EMPTY_BODY = Buffer.from('{}');

/** Time limits for what a client sends; env overrides for tests and unusual links. */
export interface ClientLimits {
  /** Longest the request line and headers may take (PORTCULLIS_HEADERS_TIMEOUT_MS, default 10 s). */
  headersTimeoutMs: number;
  /** Longest the whole request, headers and body, may take (PORTCULLIS_REQUEST_TIMEOUT_MS, default 60 s). */
  requestTimeoutMs: number;
}

export function clientLimits(env: NodeJS.ProcessEnv = process.env): ClientLimits {
  const ms = (name: string, fallback: number) => {
    const v = Number(env[name]);
    return Number.isFinite(v) && v > 0 ? v : fallback;
  };
  return {
    headersTimeoutMs: ms('PORTCULLIS_HEADERS_TIMEOUT_MS', 10_000),
    requestTimeoutMs: ms('PORTCULLIS_REQUEST_TIMEOUT_MS', 60_000),
  };
}

/** Used for maxRequestBytes before any snapshot is active (requests are refused then anyway). */
const DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface GatewayOptions {
  holder?: SnapshotHolder;
  /** The pipeline's plugins, in order (see plugin.ts). */
  plugins?: readonly Plugin[];
  /** Tried before the virtual-key lookup (see authenticate.ts). */
  authenticators?: readonly Authenticator[];
  logger?: Logger;
  /** Used when no logger is given. */
  logLevel?: string;
  upstreams?: UpstreamsOptions;
  /** Extra fields for `/status` (e.g. the policy sync state). */
  status?: () => Record<string, unknown>;
  /** Prometheus registry served at `/metrics`; the default registry when absent. */
  registry?: Registry;
  /** A caller's own budgets and rate limits, served at `GET /portcullis/v1/usage`. */
  usageView?(snapshot: Snapshot, key: ResolvedKey, now: Date): Promise<UsageView | undefined>;
  /** Header and request time limits; from the environment when absent. */
  clientLimits?: ClientLimits;
  /** Creates the listening server (HTTPS with reloading certificates: src/serving/tls.ts). */
  serverFactory?: FastifyServerFactory;
}

export interface Gateway {
  app: FastifyInstance;
  holder: SnapshotHolder;
  pipeline: Pipeline;
  log: Logger;
  /** Listen and return the base URL (`http://host:port`). */
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

/** A catalogue error raised while reading the body, answered by the error handler. */
class HttpError extends Error {
  readonly statusCode: number;
  readonly error: GatewayError;
  constructor(error: GatewayError) {
    super(error.message);
    this.statusCode = error.status;
    this.error = error;
  }
}

function genReqId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : timeOrderedId();
}

/** Reads the whole body as a Buffer, refusing it (413) past the active policy's limit. */
function readBody(
  request: FastifyRequest,
  payload: IncomingMessage,
  done: (err: Error | null, body?: Buffer) => void,
) {
  // A stranger's body is never read: the refusal goes out at once and the connection closes.
  if (request.refusedEarly) {
    done(null, EMPTY_BODY);
    return;
  }
  const encoding = request.headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity') {
    payload.resume();
    done(new HttpError(gatewayError('unsupported_encoding', String(encoding).slice(0, 40))));
    return;
  }
  const max = request.snapshot?.gateway.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const tooLarge = () => new HttpError(gatewayError('request_too_large', max));
  const declared = Number(request.headers['content-length']);
  if (declared > max) {
    payload.resume();
    done(tooLarge());
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let failed = false;
  payload.on('data', (chunk: Buffer) => {
    if (failed) return;
    size += chunk.length;
    if (size > max) {
      failed = true;
      chunks.length = 0;
      done(tooLarge());
      return;
    }
    chunks.push(chunk);
  });
  payload.on('end', () => {
    if (!failed) done(null, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
  });
  payload.on('error', (err) => {
    if (!failed) {
      failed = true;
      done(err);
    }
  });
}

/**
 * Errors Node's HTTP parser raises before there is a request (headers too large, a malformed
 * request, a request that took too long), answered in the wire format of the path asked for.
 */
type ParserError = NodeJS.ErrnoException & { rawPacket?: Buffer };

function answerClientError(err: ParserError, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const line = err.rawPacket?.subarray(0, 2048).toString('latin1').split('\r\n', 1)[0] ?? '';
  // A request that timed out was parsed already: its path is on the request being read.
  const incoming = (socket as Socket & { parser?: { incoming?: { url?: string } } }).parser?.incoming;
  const path = line.split(' ')[1] ?? incoming?.url ?? '/';
  const api = apiForUrl(path);
  const error =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? gatewayError('headers_too_large')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? gatewayError('request_timeout')
        : gatewayError('bad_request', 'the request is not valid HTTP');
  const body = errorPayload(api, error);
  const status = wireStatus(api, error.status);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function routeApi(request: FastifyRequest): RouteSpec['api'] {
  const cfg = request.routeOptions.config as { api?: RouteSpec['api'] } | undefined;
  return cfg?.api ?? apiForUrl(request.url);
}

export function createGateway(opts: GatewayOptions = {}): Gateway {
  const log = opts.logger ?? createLogger(opts.logLevel ?? 'info');
  const holder = opts.holder ?? new SnapshotHolder();
  const upstreams = new Upstreams(opts.upstreams);
  const stages = new Stages({ plugins: opts.plugins ?? [], authenticators: opts.authenticators, log });
  const pipeline = new Pipeline({ stages, upstreams, log });
  const startedAt = Date.now();
  const limits = opts.clientLimits ?? clientLimits();

  const app = Fastify({
    // Slow clients are cut: headers within headersTimeoutMs, the whole request within
    // requestTimeoutMs, checked every second (Node's default check runs every 30 s).
    // A TLS server (opts.serverFactory) gets the same limits, checked at Node's own interval.
    serverFactory: (handler, factoryOpts) => {
      if (opts.serverFactory !== undefined) {
        const tls = opts.serverFactory(handler, factoryOpts) as Server;
        tls.headersTimeout = limits.headersTimeoutMs;
        tls.requestTimeout = limits.requestTimeoutMs;
        return tls;
      }
      const server: Server = createServer(
        {
          headersTimeout: limits.headersTimeoutMs,
          requestTimeout: limits.requestTimeoutMs,
          connectionsCheckingInterval: 1000,
          ServerResponse: EndingResponse,
        },
        handler,
      );
      return server;
    },
    requestTimeout: limits.requestTimeoutMs,
    clientErrorHandler: (err, socket) => answerClientError(err as unknown as ParserError, socket),
    loggerInstance: log as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId,
    requestIdHeader: false,
    // One logger for all requests; log lines carry reqId themselves.
    childLoggerFactory: (logger) => logger,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 300 },
  });

  app.decorateRequest('snapshot', null);
  app.decorateRequest('earlyAuth', undefined);
  app.decorateRequest('refusedEarly', false);
  app.addHook('onRequest', (request, reply, done) => {
    const snapshot = holder.current() ?? null;
    request.snapshot = snapshot;
    reply.header('x-request-id', request.id);
    const api = (request.routeOptions.config as { api?: RouteSpec['api'] } | undefined)?.api;
    if (snapshot === null || api === undefined) return done();
    // Authenticate before the body is read, so a caller without a valid key holds no body memory.
    const { auth, refused } = pipeline.authenticateHeaders(snapshot, request, api);
    const settle = (result: AuthResult) => {
      request.earlyAuth = result;
      if (refused(result)) {
        request.refusedEarly = true;
        reply.header('connection', 'close');
      }
      done();
    };
    if (auth instanceof Promise) auth.then(settle, (err: Error) => done(err));
    else settle(auth);
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', readBody);

  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const api = routeApi(request);
    const status =
      err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (err instanceof HttpError) return sendError(reply, api, err.error);
    // A body nested deeper than the stack (a rewrite re-encodes it) is the client's, not ours.
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      return sendError(reply, api, gatewayError('too_deep'));
    }
    if (status === 415) return sendError(reply, api, gatewayError('unsupported_media_type'));
    if (status === 500) {
      log.error({ reqId: request.id, url: safeUrl(request.url), err: err.message }, 'request failed');
      return sendError(reply, api, gatewayError('internal_error', request.id));
    }
    return sendError(reply, api, { ...gatewayError('bad_request', err.message), status });
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0].slice(0, 200);
    sendError(reply, apiForUrl(request.url), gatewayError('not_found', `${request.method} ${path}`));
  });

  registerOps(app, holder, startedAt, { status: opts.status, registry: opts.registry ?? register });
  if (opts.usageView !== undefined) registerUsage(app, holder, pipeline, opts.usageView);
  for (const route of ROUTES) {
    const handler = (request: FastifyRequest, reply: FastifyReply) => pipeline.handle(route, request, reply);
    const config = { api: route.api };
    app.route({ method: route.method, url: route.path, handler, config });
    app.route({ method: route.method, url: API_PREFIXES[route.api] + route.path, handler, config });
  }

  return {
    app,
    holder,
    pipeline,
    log,
    async listen(port: number, host = '127.0.0.1'): Promise<string> {
      await app.listen({ port, host });
      const addr = app.server.address();
      if (addr === null || typeof addr === 'string') throw new Error('gateway is not listening on TCP');
      const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      return `${app.server instanceof TlsServer ? 'https' : 'http'}://${h}:${addr.port}`;
    },
    async close(): Promise<void> {
      await app.close();
      await upstreams.close();
    },
  };
}
