// A local stand-in for the OpenAI, Anthropic and Gemini APIs: same routes and wire formats, streaming
// included, deterministic output, and latency, usage, length and errors under the caller's control.
// Per request: `x-sim-status: 500`, `x-sim-delay-ms` (first byte), `x-sim-chunk-delay-ms`,
// `x-sim-output-tokens`, `x-sim-input-tokens`, `x-sim-cached-tokens`, `x-sim-fail-after` (cut the stream after N chunks),
// or a model named `sim-error-<status>`. Chosen output: `x-sim-text` (URI-encoded) with
// `x-sim-chunk-chars` (stream it in pieces of N characters), `x-sim-tool-call: <name>` (the answer
// calls that tool with `{"command":"ls"}`, on every surface that has tool calls; `<name>;once`: only
// until the request holds a tool result; `x-sim-tool-args` (URI-encoded JSON) for other arguments). A request asking for
// structured output (OpenAI `response_format` / `text.format`, Gemini `responseMimeType:
// application/json`) gets a JSON text that satisfies its schema, or any JSON object without one.
import { hash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as anthropic from './anthropic.ts';
import {
  bedrockError,
  type CloudOptions,
  type CloudRoute,
  cloudModel,
  cloudRoute,
  converse,
  toEventStream,
} from './cloud.ts';
import * as gemini from './gemini.ts';
import { type JsonMode, jsonModeOf } from './json-mode.ts';
import * as openai from './openai.ts';
import { instanceOf } from './schema-instance.ts';
import { generateWords, pieces, seedOf, wordSource } from './text.ts';
import { json, type SimCall, type SimReply } from './types.ts';

export interface SimulatorOptions {
  /** Delay before the response starts. */
  firstByteDelayMs?: number;
  /** Delay between streamed chunks. */
  chunkDelayMs?: number;
  /** Output tokens per answer (capped by the request's max tokens). */
  outputTokens?: number;
  tokensPerChunk?: number;
  /** Input tokens reported as read from the prompt cache. */
  cachedTokens?: number;
  /** Requests remembered for inspection. */
  historySize?: number;
  /** Serve as Amazon Bedrock, Google Vertex AI and Azure OpenAI too, with these credentials. */
  clouds?: CloudOptions;
}

/** A received request as recorded; credentials appear only as `sha256:<hex>` of their value. */
export interface RecordedRequest {
  seq: number;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
  bodyBytes: number;
  /** The client went away before the response ended. */
  aborted: boolean;
  completed: boolean;
}

type Api = 'openai' | 'anthropic' | 'gemini';

const SECRET_HEADERS = new Set([
  'authorization',
  'x-api-key',
  'x-goog-api-key',
  'api-key',
  'cookie',
  'x-amz-security-token',
]);
const MAX_BODY = 64 * 1024 * 1024;
const SIM_MODELS = ['sim-gpt', 'sim-claude', 'sim-gemini'];

function digest(v: string): string {
  return `sha256:${hash('sha256', v, 'hex')}`;
}

function intHeader(req: IncomingMessage, name: string): number | undefined {
  const v = req.headers[name];
  if (typeof v !== 'string') return undefined;
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function textHeader(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  if (typeof v !== 'string' || v === '') return undefined;
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

function errorReply(api: Api, status: number, message: string): SimReply {
  if (api === 'anthropic') return anthropic.error(status, message);
  if (api === 'gemini') return gemini.error(status, message);
  return openai.error(status, message);
}

/**
 * The JSON answer's text as words (split at its spaces, so joining them with spaces gives it back and
 * usage counts them like any answer). Without a schema: an object holding `count` words.
 */
function jsonWords(mode: JsonMode, seed: number, count: number): string[] {
  const value =
    mode.schema === undefined
      ? { text: generateWords(seed, count).join(' ') }
      : instanceOf(mode.schema, wordSource(seed));
  return JSON.stringify(value).split(' ');
}

function maxTokensOf(api: Api, body: Record<string, unknown>): number | undefined {
  let v: unknown;
  if (api === 'gemini') {
    const cfg = body.generationConfig ?? body.generation_config;
    const c = typeof cfg === 'object' && cfg !== null ? (cfg as Record<string, unknown>) : {};
    v = c.maxOutputTokens ?? c.max_output_tokens;
  } else v = body.max_completion_tokens ?? body.max_output_tokens ?? body.max_tokens;
  return typeof v === 'number' && v >= 0 ? v : undefined;
}

interface Route {
  api: Api;
  run(call: SimCall, ctx: { stream: boolean; sse: boolean }): SimReply;
  model?: string;
  stream?: boolean;
  /** Error replies in another format than the API's own (Bedrock's). */
  error?: (status: number, message: string) => SimReply;
  /** Reframes the answer (Bedrock's event stream). */
  wrap?: (reply: SimReply) => SimReply;
}

function fromCloud(c: CloudRoute, body: Record<string, unknown>, clouds: CloudOptions): Route {
  const run: Route['run'] =
    c.run === 'messages'
      ? (call, x) => anthropic.messages(call, x.stream)
      : c.run === 'generate'
        ? (call, x) => gemini.generate(call, x.stream, true)
        : c.run === 'chat'
          ? (call, x) => openai.chat(call, x.stream)
          : c.run === 'converse'
            ? (call, x) => converse(call, x.stream)
            : (call, x) => openai.responses(call, x.stream);
  const bedrock = c.cloud === 'bedrock';
  return {
    api: c.api,
    model: cloudModel(c, body, clouds),
    stream: c.stream,
    run,
    error: bedrock ? bedrockError : undefined,
    wrap: bedrock && c.run !== 'converse' ? toEventStream : undefined,
  };
}

function route(method: string, path: string, query: URLSearchParams): Route | null {
  if (method === 'POST') {
    switch (path) {
      case '/v1/chat/completions':
        return { api: 'openai', run: (c, x) => openai.chat(c, x.stream) };
      case '/v1/responses':
      case '/v1/responses/compact':
        return { api: 'openai', run: (c, x) => openai.responses(c, x.stream) };
      case '/v1/embeddings':
        return { api: 'openai', run: (c) => openai.embeddings(c) };
      case '/v1/messages':
        return { api: 'anthropic', run: (c, x) => anthropic.messages(c, x.stream) };
      case '/v1/messages/count_tokens':
        return { api: 'anthropic', run: (c) => anthropic.countTokens(c) };
    }
    const m = /^\/(?:v1beta|v1)\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens)$/.exec(
      path,
    );
    if (m !== null) {
      const model = decodeURIComponent(m[1]);
      if (m[2] === 'countTokens') return { api: 'gemini', model, run: (c) => gemini.countTokens(c) };
      const stream = m[2] === 'streamGenerateContent';
      const asSse = query.get('alt') === 'sse';
      return { api: 'gemini', model, stream, run: (c, x) => gemini.generate(c, x.stream, asSse) };
    }
  }
  if (method === 'GET' && path === '/v1/models')
    return { api: 'openai', run: () => openai.models(SIM_MODELS) };
  return null;
}

export class Simulator {
  readonly server: Server;
  readonly requests: RecordedRequest[] = [];
  readonly opts: Required<Omit<SimulatorOptions, 'clouds'>>;
  readonly clouds: CloudOptions;
  #seq = 0;

  constructor(opts: SimulatorOptions = {}) {
    this.opts = {
      firstByteDelayMs: opts.firstByteDelayMs ?? 0,
      chunkDelayMs: opts.chunkDelayMs ?? 0,
      outputTokens: opts.outputTokens ?? 16,
      tokensPerChunk: opts.tokensPerChunk ?? 2,
      cachedTokens: opts.cachedTokens ?? 0,
      historySize: opts.historySize ?? 200,
    };
    this.clouds = opts.clouds ?? {};
    this.server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => this.#onRequest(req, res));
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.url;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The most recent request to `path` (default: any). */
  last(path?: string): RecordedRequest | undefined {
    for (let i = this.requests.length - 1; i >= 0; i--) {
      if (path === undefined || this.requests[i].path === path) return this.requests[i];
    }
    return undefined;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => this.#handle(req, res, Buffer.concat(chunks, Math.min(size, MAX_BODY))));
  }

  #record(
    req: IncomingMessage,
    path: string,
    query: URLSearchParams,
    body: unknown,
    bytes: number,
  ): RecordedRequest {
    const headers: Record<string, string> = {};
    for (const [name, v] of Object.entries(req.headers)) {
      if (v === undefined) continue;
      const value = Array.isArray(v) ? v.join(', ') : v;
      headers[name] = SECRET_HEADERS.has(name) ? digest(value) : value;
    }
    const q: Record<string, string> = {};
    for (const [k, v] of query) q[k] = k === 'key' ? digest(v) : v;
    const rec: RecordedRequest = {
      seq: ++this.#seq,
      method: req.method ?? '',
      path,
      query: q,
      headers,
      body,
      bodyBytes: bytes,
      aborted: false,
      completed: false,
    };
    this.requests.push(rec);
    if (this.requests.length > this.opts.historySize) this.requests.shift();
    return rec;
  }

  #handle(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    const url = req.url ?? '/';
    const qAt = url.indexOf('?');
    const path = qAt === -1 ? url : url.slice(0, qAt);
    const query = new URLSearchParams(qAt === -1 ? '' : url.slice(qAt + 1));
    if (req.method === 'GET' && path === '/__sim/requests') {
      this.#write(res, json(this.requests), null);
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      this.#write(res, json({ status: 'ok' }), null);
      return;
    }
    let body: Record<string, unknown> = {};
    let parsed = true;
    if (raw.length > 0) {
      try {
        const v: unknown = JSON.parse(raw.toString('utf8'));
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) body = v as Record<string, unknown>;
        else parsed = false;
      } catch {
        parsed = false;
      }
    }
    const rec = this.#record(
      req,
      path,
      query,
      parsed ? body : raw.toString('utf8').slice(0, 1000),
      raw.length,
    );
    res.once('close', () => {
      if (!res.writableFinished) rec.aborted = true;
    });
    const c = cloudRoute(req.method ?? '', path, query, this.clouds);
    if (c !== null) {
      if (!parsed || raw.length === 0) {
        this.#write(res, errorReply(c.api, 400, 'simulator: the body is not a JSON object'), rec);
        return;
      }
      c.check(req, raw, body, path, url).then(
        (denied) => {
          if (denied !== undefined) this.#write(res, denied, rec);
          else this.#answer(fromCloud(c, body, this.clouds), req, res, raw, body, rec);
        },
        (err: unknown) =>
          this.#write(res, errorReply(c.api, 500, `simulator: ${(err as Error).message}`), rec),
      );
      return;
    }
    const r = route(req.method ?? '', path, query);
    if (r === null) {
      this.#write(res, openai.error(404, `simulator: no route ${req.method} ${path}`), rec);
      return;
    }
    const h = req.headers;
    const key = h.authorization ?? h['x-api-key'] ?? h['x-goog-api-key'] ?? query.get('key') ?? '';
    if (key === '' || key === 'Bearer' || key === 'Bearer ') {
      this.#write(res, errorReply(r.api, 401, 'simulator: an API key is required'), rec);
      return;
    }
    if (!parsed || (req.method === 'POST' && raw.length === 0)) {
      this.#write(res, errorReply(r.api, 400, 'simulator: the body is not a JSON object'), rec);
      return;
    }
    this.#answer(r, req, res, raw, body, rec);
  }

  #answer(
    r: Route,
    req: IncomingMessage,
    res: ServerResponse,
    raw: Buffer,
    body: Record<string, unknown>,
    rec: RecordedRequest,
  ): void {
    const model = r.model ?? (typeof body.model === 'string' ? body.model : 'sim');
    const forced = intHeader(req, 'x-sim-status') ?? Number(/^sim-error-(\d{3})$/.exec(model)?.[1] ?? 0);
    if (forced >= 400 && forced < 600) {
      const reply = (r.error ?? ((st: number, msg: string) => errorReply(r.api, st, msg)))(
        forced,
        `simulator: forced error ${forced}`,
      );
      if (forced === 429 && reply.kind === 'json') reply.headers = { 'retry-after': '1' };
      this.#write(res, reply, rec, intHeader(req, 'x-sim-delay-ms'));
      return;
    }
    const wanted = intHeader(req, 'x-sim-output-tokens') ?? this.opts.outputTokens;
    const max = maxTokensOf(r.api, body);
    const count = max === undefined ? wanted : Math.min(wanted, max);
    const seedText =
      raw.length > 4096
        ? `${raw.length}:${raw.subarray(0, 4096).toString('latin1')}`
        : raw.toString('latin1');
    const chosen = textHeader(req, 'x-sim-text');
    const mode = chosen === undefined ? jsonModeOf(r.api, body) : undefined;
    let words: string[];
    let finish: SimCall['finish'] = max !== undefined && max < wanted ? 'length' : 'stop';
    if (chosen !== undefined) words = chosen.split(' ');
    else if (mode === undefined) words = generateWords(seedOf(seedText), count);
    else {
      // The schema, not x-sim-output-tokens, sets the length; max tokens cuts it as a provider would.
      words = jsonWords(mode, seedOf(seedText), count);
      finish = max !== undefined && max < words.length ? 'length' : 'stop';
      if (finish === 'length') words = words.slice(0, max);
    }
    const chunkChars = intHeader(req, 'x-sim-chunk-chars');
    // `Bash;once`: call the tool until the conversation holds a tool result, then answer in text
    // (an agent's loop ends instead of calling the tool for ever).
    let tool = textHeader(req, 'x-sim-tool-call');
    if (tool?.endsWith(';once')) {
      tool = tool.slice(0, -5);
      if (
        /"tool_result"|"function_call_output"|"role":\s*"tool"|"functionResponse"|"custom_tool_call_output"/.test(
          raw.toString('utf8'),
        )
      )
        tool = undefined;
    }
    const inputTokens = intHeader(req, 'x-sim-input-tokens') ?? Math.max(1, Math.ceil(raw.length / 4));
    const call: SimCall = {
      id: `sim${rec.seq}`,
      created: 1_700_000_000 + rec.seq,
      model,
      words,
      pieces:
        chosen !== undefined && chunkChars !== undefined && chunkChars > 0
          ? (chosen.match(new RegExp(`[^]{1,${chunkChars}}`, 'g')) ?? [])
          : pieces(words, this.opts.tokensPerChunk),
      finish,
      inputTokens,
      cachedTokens: Math.min(inputTokens, intHeader(req, 'x-sim-cached-tokens') ?? this.opts.cachedTokens),
      body,
      toolCall:
        tool === undefined
          ? undefined
          : { name: tool, arguments: textHeader(req, 'x-sim-tool-args') ?? '{"command":"ls"}' },
    };
    const stream = r.stream ?? body.stream === true;
    const reply = r.run(call, { stream, sse: true });
    this.#write(
      res,
      r.wrap === undefined ? reply : r.wrap(reply),
      rec,
      intHeader(req, 'x-sim-delay-ms'),
      req,
    );
  }

  #write(
    res: ServerResponse,
    reply: SimReply,
    rec: RecordedRequest | null,
    delayMs?: number,
    req?: IncomingMessage,
  ): void {
    const delay = delayMs ?? (rec === null ? 0 : this.opts.firstByteDelayMs);
    if (delay > 0) {
      const t = setTimeout(() => this.#write(res, reply, rec, 0, req), delay);
      res.once('close', () => clearTimeout(t));
      return;
    }
    if (res.destroyed) return;
    if (reply.kind === 'json') {
      const text = JSON.stringify(reply.body);
      res.writeHead(reply.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        ...reply.headers,
      });
      res.end(text);
      if (rec !== null) rec.completed = true;
      return;
    }
    res.writeHead(200, { 'content-type': reply.contentType, 'cache-control': 'no-cache' });
    const chunkDelay = (req && intHeader(req, 'x-sim-chunk-delay-ms')) ?? this.opts.chunkDelayMs;
    const failAfter = req ? intHeader(req, 'x-sim-fail-after') : undefined;
    const parts = reply.parts;
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    if (chunkDelay > 0) res.once('close', () => clearTimeout(timer));
    const next = (): void => {
      if (res.destroyed) return;
      while (i < parts.length) {
        if (failAfter !== undefined && i >= failAfter) {
          res.destroy();
          return;
        }
        const part = parts[i++];
        res.write(reply.binary === true ? Buffer.from(part, 'latin1') : part);
        if (chunkDelay > 0 && i < parts.length) {
          timer = setTimeout(next, chunkDelay);
          return;
        }
      }
      res.end();
      if (rec !== null) rec.completed = true;
    };
    next();
  }
}
