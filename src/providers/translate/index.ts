// Translating one call between the caller's wire format and the upstream's: the request on the way
// out, the answer (whole or streamed) and errors on the way back. Each format reads into and writes
// from the neutral shapes of ir.ts, so any pair works.
import { eventJson, type SseEvent, SseParser } from '../sse.ts';
import { anthropicFormat } from './anthropic.ts';
import { chatFormat } from './chat.ts';
import { converseFormat } from './converse.ts';
import type { AnswerContext, StreamReader, StreamWriter, WireFormat } from './format.ts';
import { geminiFormat } from './gemini.ts';
import type { IrEvent, IrRequest } from './ir.ts';
import { responsesFormat } from './responses.ts';

export type { AnswerContext } from './format.ts';

import { TranslationError } from './ir.ts';

export { TranslationError };

/** The surfaces that carry a conversation and can be translated to and from each other. */
export type ChatSurface =
  | 'anthropic.messages'
  | 'openai.chat'
  | 'openai.responses'
  | 'gemini.generate'
  /** Amazon Bedrock's Converse API: an upstream format only. */
  | 'bedrock.converse';

const FORMATS: Readonly<Record<ChatSurface, WireFormat>> = {
  'anthropic.messages': anthropicFormat,
  'openai.chat': chatFormat,
  'openai.responses': responsesFormat,
  'gemini.generate': geminiFormat,
  'bedrock.converse': converseFormat,
};

export function isChatSurface(s: string): s is ChatSurface {
  return s in FORMATS;
}

export interface TranslatedRequest {
  /** The body to send upstream. */
  body: Record<string, unknown>;
  /** The upstream path below the provider's base URL (Gemini names the model and streaming there). */
  path: string;
  stream: boolean;
  /** What the answer's writer needs. */
  answer: AnswerContext;
  /** What was left out by the route's leave (hosted tools), for a response header and the audit record. */
  dropped: string[];
}

export interface RequestOptions {
  /** The model the client asked for (answers name it). */
  clientModel: string;
  /** The model to ask upstream. */
  upstreamModel: string;
  /** Whether the client asked for a stream (Gemini says so in its path). */
  stream: boolean;
  /** Output cap used when the client set none and the upstream requires one. */
  defaultMaxTokens?: number;
  /**
   * Tools only the client's provider runs (web search…): refused (the default), or left out, which the
   * result reports in `dropped` so the caller can say so.
   */
  hostedTools?: 'refuse' | 'drop';
}

const UPSTREAM_PATHS: Readonly<Record<Exclude<ChatSurface, 'gemini.generate'>, string>> = {
  'anthropic.messages': '/v1/messages',
  'openai.chat': '/v1/chat/completions',
  'openai.responses': '/v1/responses',
  // Bedrock's path names the model; its cloud client writes it.
  'bedrock.converse': '',
};

export function upstreamPath(to: ChatSurface, model: string, stream: boolean): string {
  if (to !== 'gemini.generate') return UPSTREAM_PATHS[to];
  return stream
    ? `/v1beta/models/${encodeURIComponent(model)}:streamGenerateContent?alt=sse`
    : `/v1beta/models/${encodeURIComponent(model)}:generateContent`;
}

/** Reads the client's request in its format; throws TranslationError for what cannot be carried over. */
export function readRequest(
  from: ChatSurface,
  body: Record<string, unknown>,
  opts: RequestOptions,
): IrRequest {
  const ir = FORMATS[from].readRequest(body, opts.upstreamModel);
  ir.stream = opts.stream;
  ir.maxTokens ??= opts.defaultMaxTokens;
  return ir;
}

export function translateRequest(
  from: ChatSurface,
  to: ChatSurface,
  body: Record<string, unknown>,
  opts: RequestOptions,
): TranslatedRequest {
  const ir = readRequest(from, body, opts);
  if (ir.hostedTools.length > 0 && opts.hostedTools !== 'drop') {
    throw new TranslationError(
      `the request declares ${ir.hostedTools.join(', ')}, which the upstream provider does not run; ` +
        'remove it, or ask your platform team to let this route leave such tools out',
    );
  }
  const namespaced = new Map<string, { namespace: string; name: string }>();
  for (const t of ir.tools) if (t.namespace !== undefined) namespaced.set(t.name, t.namespace);
  const streamOpts = body.stream_options;
  return {
    body: FORMATS[to].writeRequest(ir),
    path: upstreamPath(to, opts.upstreamModel, opts.stream),
    stream: opts.stream,
    answer: {
      model: opts.clientModel,
      freeformTools: new Set(ir.tools.filter((t) => t.freeform).map((t) => t.name)),
      namespaced,
      streamUsage:
        typeof streamOpts === 'object' &&
        streamOpts !== null &&
        (streamOpts as Record<string, unknown>).include_usage === true,
    },
    dropped: [...ir.hostedTools.map((t) => `tool ${t}`), ...(ir.ignored ?? [])],
  };
}

/** A whole (non-streamed) upstream answer in the client's format. */
export function translateResponse(
  from: ChatSurface,
  to: ChatSurface,
  body: unknown,
  ctx: AnswerContext,
): unknown {
  return FORMATS[to].writeResponse(FORMATS[from].readResponse(body), ctx);
}

/** The message an upstream error body carries, whatever its format. */
export function upstreamErrorMessage(from: ChatSurface, body: unknown): string | undefined {
  return FORMATS[from].errorMessage(body);
}

/**
 * Turns an upstream event stream into the client's, event by event. Feed it raw chunks (`push`) or
 * events another reader already parsed (`pushEvents`, which reuses their parsed JSON).
 */
export class StreamTranslator {
  readonly #reader: StreamReader;
  readonly #writer: StreamWriter;
  readonly #parser = new SseParser();
  readonly #events: SseEvent[] = [];
  readonly #ir: IrEvent[] = [];

  constructor(from: ChatSurface, to: ChatSurface, ctx: AnswerContext) {
    this.#reader = FORMATS[from].streamReader();
    this.#writer = FORMATS[to].streamWriter(ctx);
  }

  push(chunk: Uint8Array): string {
    this.#parser.push(chunk, this.#events);
    const out = this.pushEvents(this.#events);
    this.#events.length = 0;
    return out;
  }

  pushEvents(events: readonly SseEvent[]): string {
    const ir = this.#ir;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i];
      eventJson(ev);
      this.#reader.read(ev, ir);
    }
    return this.#drain();
  }

  /** Upstream ended: the client's closing events. */
  end(): string {
    this.#parser.end(this.#events);
    let out = this.pushEvents(this.#events);
    this.#events.length = 0;
    this.#reader.end(this.#ir);
    out += this.#drain();
    return out;
  }

  #drain(): string {
    const ir = this.#ir;
    let out = '';
    for (let i = 0; i < ir.length; i++) out += this.#writer.write(ir[i]);
    ir.length = 0;
    return out;
  }
}
