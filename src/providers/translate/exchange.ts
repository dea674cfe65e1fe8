// One upstream exchange seen from the client's side when the upstream does not answer in the client's
// own format: a stream tracker that reads the upstream's stream (SSE, or Bedrock's event-stream frames)
// for usage and hands the client its own format's events, and the conversion of a whole answer or an
// error body. Usage is always read in the upstream's format, as the provider billed it.
import type { Surface } from '../../policy/decision.ts';
import type { ProviderApi } from '../../policy/snapshot.ts';
import { EventStreamToSse } from '../cloud/eventstream.ts';
import { adapters } from '../index.ts';
import { type SseEvent, SseParser } from '../sse.ts';
import type { StreamOptions, StreamTracker, TokenUsage } from '../types.ts';

/** The part of a wire format's adapter that reads usage. */
export interface UsageReader {
  usageFromJson(surface: Surface, body: unknown): TokenUsage | null;
  streamTracker(surface: Surface, opts: StreamOptions): StreamTracker;
}

import type { AnswerContext } from './format.ts';
import {
  type ChatSurface,
  StreamTranslator,
  TranslationError,
  translateResponse,
  upstreamErrorMessage,
} from './index.ts';

export interface ExchangeSpec {
  clientApi: ProviderApi;
  clientSurface: Surface;
  /** Reads usage in the upstream's format (its adapter, or Converse's reader). */
  upstreamUsage: UsageReader;
  upstreamSurface: Surface | ChatSurface;
  /** Set when the formats differ. */
  answer?: AnswerContext;
  /** Bedrock: the stream arrives as AWS event-stream frames. */
  eventStream: boolean;
  /** Who answered, for error messages. */
  provider: string;
}

export interface ConvertedAnswer {
  body: Buffer;
  usage: TokenUsage | null;
}

class ExchangeTracker implements StreamTracker {
  readonly #upstream: StreamTracker;
  readonly #frames: EventStreamToSse | null;
  readonly #translator: StreamTranslator | null;
  /** Client events for a stream guard (`share`), parsed from what this tracker sends. */
  #parser: SseParser | null = null;
  #shared: SseEvent[] = [];

  constructor(spec: ExchangeSpec) {
    this.#upstream = spec.upstreamUsage.streamTracker(spec.upstreamSurface as Surface, {
      hideUsageChunk: false,
    });
    this.#frames = spec.eventStream ? new EventStreamToSse() : null;
    this.#translator =
      spec.answer === undefined
        ? null
        : new StreamTranslator(
            spec.upstreamSurface as ChatSurface,
            spec.clientSurface as ChatSurface,
            spec.answer,
          );
    if (this.#translator !== null) this.#upstream.share();
  }

  #convert(sse: Buffer | null, ending: boolean): Buffer | null {
    const up = this.#upstream;
    let text = '';
    if (sse !== null) {
      up.push(sse);
      text = this.#translator === null ? sse.toString('utf8') : this.#translator.pushEvents(up.take());
    }
    if (ending) {
      up.end();
      if (this.#translator !== null) {
        text += this.#translator.pushEvents(up.take());
        text += this.#translator.end();
      }
    }
    if (text === '') return null;
    if (this.#parser !== null) this.#parser.pushText(text, this.#shared);
    return Buffer.from(text);
  }

  push(chunk: Buffer): Buffer | null {
    if (this.#frames === null) return this.#convert(chunk, false);
    const sse = this.#frames.push(chunk);
    return sse === '' ? null : this.#convert(Buffer.from(sse), false);
  }

  end(): Buffer | null {
    const rest = this.#frames?.end() ?? '';
    return this.#convert(rest === '' ? null : Buffer.from(rest), true);
  }

  usage(): TokenUsage {
    return this.#upstream.usage();
  }

  estimated(): boolean {
    return this.#upstream.estimated();
  }

  share(): void {
    this.#parser ??= new SseParser();
  }

  take(): SseEvent[] {
    const out = this.#shared;
    this.#shared = [];
    return out;
  }
}

export class Exchange {
  readonly spec: ExchangeSpec;
  constructor(spec: ExchangeSpec) {
    this.spec = spec;
  }

  /** A tracker for a streamed answer, or null when the answer is not a stream. */
  streamTracker(status: number, contentType: string | undefined): StreamTracker | null {
    if (status >= 300 || contentType === undefined) return null;
    const stream = this.spec.eventStream
      ? contentType.startsWith('application/vnd.amazon.eventstream')
      : contentType.startsWith('text/event-stream');
    return stream ? new ExchangeTracker(this.spec) : null;
  }

  /** A whole upstream answer or error, in the client's format. */
  answer(status: number, raw: Buffer): ConvertedAnswer {
    const spec = this.spec;
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      json = undefined;
    }
    if (status >= 300) {
      const message =
        (spec.upstreamSurface in FORMAT_SURFACES
          ? upstreamErrorMessage(spec.upstreamSurface as ChatSurface, json)
          : undefined) ??
        awsMessage(json) ??
        raw.toString('utf8').slice(0, 500);
      return {
        body: Buffer.from(
          JSON.stringify(
            adapters[spec.clientApi].errorBody(
              status,
              `Provider ${spec.provider}: ${message}`,
              'upstream_error',
            ),
          ),
        ),
        usage: null,
      };
    }
    const usage = spec.upstreamUsage.usageFromJson(spec.upstreamSurface as Surface, json);
    if (spec.answer === undefined) return { body: raw, usage };
    try {
      const out = translateResponse(
        spec.upstreamSurface as ChatSurface,
        spec.clientSurface as ChatSurface,
        json,
        spec.answer,
      );
      return { body: Buffer.from(JSON.stringify(out)), usage };
    } catch (err) {
      const message = err instanceof TranslationError ? err.message : 'the answer could not be translated';
      return {
        body: Buffer.from(
          JSON.stringify(
            adapters[spec.clientApi].errorBody(502, `Portcullis: ${message}`, 'untranslatable_answer'),
          ),
        ),
        usage,
      };
    }
  }
}

const FORMAT_SURFACES: Record<string, true> = {
  'anthropic.messages': true,
  'openai.chat': true,
  'openai.responses': true,
  'gemini.generate': true,
};

/** Bedrock's error bodies: `{"message": …}`. */
function awsMessage(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const m =
    (json as { message?: unknown; Message?: unknown }).message ?? (json as { Message?: unknown }).Message;
  return typeof m === 'string' ? m : undefined;
}
