// What the data plane needs to know about one upstream wire format: how to read a request's facts,
// how to authenticate upstream, how to count tokens in its responses and how to word an error.
import type { Surface } from '../policy/decision.ts';
import type { ProviderApi } from '../policy/snapshot.ts';
import type { SseEvent } from './sse.ts';

/** Token counts of one call, normalised across providers. */
export interface TokenUsage {
  /** Input tokens billed at the full input price (cached reads and cache writes excluded). */
  inputTokens: number;
  /** Input tokens read from the provider's prompt cache. */
  cachedInputTokens: number;
  /** Input tokens written to the prompt cache (Anthropic `cache_creation_input_tokens`). */
  cacheWriteTokens: number;
  /** Of `cacheWriteTokens`, those written to Anthropic's 1-hour cache (billed higher than 5-minute writes). */
  cacheWriteLongTokens: number;
  /** Output tokens, reasoning/thinking tokens included. */
  outputTokens: number;
}

export function emptyUsage(): TokenUsage {
  return {
    inputTokens: 0,
    cachedInputTokens: 0,
    cacheWriteTokens: 0,
    cacheWriteLongTokens: 0,
    outputTokens: 0,
  };
}

/** What the URL says about a call (Gemini names the model and streaming in the path). */
export interface PathFacts {
  model?: string;
  stream?: boolean;
}

/** The facts of a request body the decision needs. */
export interface RequestFacts {
  model: string;
  stream: boolean;
  /** From the request (max_tokens and friends); undefined when the request sets none. */
  maxOutputTokens: number | undefined;
}

/** Observes a streamed (SSE) response as it passes, and may drop events the client did not ask for. */
export interface StreamTracker {
  /**
   * Feed one chunk from upstream; returns what to send to the client: the chunk itself (the common
   * case, no copy), a rewritten buffer, or null to send nothing yet.
   */
  push(chunk: Buffer): Buffer | null;
  /** Upstream ended: returns any held-back bytes to send. */
  end(): Buffer | null;
  /** Usage reported so far; output estimated from streamed text when upstream never reported it. */
  usage(): TokenUsage;
  /** True when the output token count is an estimate (the stream ended before upstream reported it). */
  estimated(): boolean;
  /** Keep the parsed events (those let through) for `take`, so another reader can reuse the parse. */
  share(): void;
  /** The events parsed since the last call, in stream order (none unless `share` was called). */
  take(): SseEvent[];
}

export interface StreamOptions {
  /** OpenAI chat: the gateway asked for the usage chunk; do not show it to the client. */
  hideUsageChunk: boolean;
}

export interface ProviderAdapter {
  api: ProviderApi;
  /** Headers that carry the upstream credential. */
  authHeaders(credential: string): Record<string, string>;
  /** Headers sent upstream when the client did not send them (e.g. `anthropic-version`). */
  defaultHeaders: Readonly<Record<string, string>>;
  /** Facts from the parsed body and the URL. */
  requestFacts(surface: Surface, body: Record<string, unknown>, path: PathFacts): RequestFacts;
  /**
   * Adjust the body so the response reports usage (OpenAI chat streams). Returns true when it changed
   * the body and the usage chunk must then be hidden from the client.
   */
  requestUsageReporting(surface: Surface, body: Record<string, unknown>): boolean;
  /**
   * The body with its output limit lowered to `cap` (set when the request names none), or undefined
   * when it already asks for no more. Never mutates `body`.
   */
  capOutputTokens(
    surface: Surface,
    body: Record<string, unknown>,
    cap: number,
  ): Record<string, unknown> | undefined;
  /** The key of the usage object in a JSON response body. */
  usageKey: 'usage' | 'usageMetadata';
  /** Usage from a JSON response body (or just `{[usageKey]: …}`); null when it reports none. */
  usageFromJson(surface: Surface, body: unknown): TokenUsage | null;
  streamTracker(surface: Surface, opts: StreamOptions): StreamTracker;
  /** An error body in this API's own format. */
  errorBody(status: number, message: string, code: string): unknown;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}
