// Anthropic wire format: Messages (as Claude Code calls it) and count_tokens.
import type { Surface } from '../policy/decision.ts';
import { CACHE_WRITE_LONG_MULTIPLIER, CACHE_WRITE_MULTIPLIER } from './pricing.ts';
import type { SseEvent } from './sse.ts';
import { eventJson, SseUsageTracker } from './tracker.ts';
import {
  emptyUsage,
  isObject,
  num,
  type PathFacts,
  type ProviderAdapter,
  type RequestFacts,
  type StreamTracker,
  type TokenUsage,
} from './types.ts';

function errorType(status: number): string {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** Applies the fields an Anthropic usage object carries onto `into` (message_delta carries a subset). */
function applyUsage(into: TokenUsage, u: Record<string, unknown>): void {
  if ('input_tokens' in u) into.inputTokens = num(u.input_tokens);
  if ('cache_read_input_tokens' in u) into.cachedInputTokens = num(u.cache_read_input_tokens);
  if ('cache_creation_input_tokens' in u) into.cacheWriteTokens = num(u.cache_creation_input_tokens);
  // The split of those writes by cache lifetime; 1-hour writes cost more.
  const creation = u.cache_creation;
  if (isObject(creation) && 'ephemeral_1h_input_tokens' in creation)
    into.cacheWriteLongTokens = num(creation.ephemeral_1h_input_tokens);
  if ('output_tokens' in u) into.outputTokens = num(u.output_tokens);
}

/**
 * The most one input token of this request can cost, in multiples of the input price: 1 unless it
 * asks for prompt caching (`cache_control`), whose writes cost 1.25× (5-minute) or 2× (`"ttl": "1h"`).
 * Read from the raw body; a stray "1h" elsewhere only makes the bound more cautious.
 */
/**
 * How much more than the input price an input token of this request may cost: a prompt-cache write
 * (`cache_control`) is billed at the model's 5-minute or 1-hour write price (1.25× or 2× the input
 * price unless the Provider says otherwise). A request naming a `"1h"` ttl is counted at the 1-hour rate.
 */
export function anthropicInputPriceFactor(
  raw: Buffer | null,
  price?: { inputPerMTok: number; cacheWrite5mPerMTok: number; cacheWrite1hPerMTok: number },
): number {
  if (raw === null || raw.indexOf('"cache_control"') === -1) return 1;
  const long = raw.indexOf('"1h"') !== -1;
  if (price === undefined || price.inputPerMTok <= 0)
    return long ? CACHE_WRITE_LONG_MULTIPLIER : CACHE_WRITE_MULTIPLIER;
  // Both rates may apply in one request; the higher one bounds every token.
  const rate = long
    ? Math.max(price.cacheWrite1hPerMTok, price.cacheWrite5mPerMTok)
    : price.cacheWrite5mPerMTok;
  return Math.max(1, rate / price.inputPerMTok);
}

export function anthropicUsage(u: unknown): TokenUsage | null {
  if (!isObject(u)) return null;
  const usage = emptyUsage();
  applyUsage(usage, u);
  return usage;
}

class MessagesTracker extends SseUsageTracker {
  constructor() {
    super(false);
  }
  protected onEvent(ev: SseEvent): boolean {
    const msg = eventJson(ev);
    if (!isObject(msg)) return true;
    switch (msg.type) {
      case 'content_block_delta': {
        const d = msg.delta;
        if (isObject(d)) {
          const text = d.text ?? d.thinking ?? d.partial_json;
          if (typeof text === 'string') this.textChars += text.length;
        }
        break;
      }
      case 'message_start':
        if (isObject(msg.message) && isObject(msg.message.usage))
          applyUsage(this.reported, msg.message.usage);
        break;
      case 'message_delta':
        // Counts here are cumulative for the whole message.
        if (isObject(msg.usage)) {
          applyUsage(this.reported, msg.usage);
          if ('output_tokens' in msg.usage) this.outputReported = true;
        }
        break;
    }
    return true;
  }
}

export const anthropicAdapter: ProviderAdapter = {
  api: 'anthropic',
  defaultHeaders: { 'anthropic-version': '2023-06-01' },
  usageKey: 'usage',

  authHeaders(credential: string): Record<string, string> {
    return { 'x-api-key': credential };
  },

  requestFacts(surface: Surface, body: Record<string, unknown>, _path: PathFacts): RequestFacts {
    const counting = surface === 'anthropic.count_tokens';
    const max = body.max_tokens;
    return {
      model: typeof body.model === 'string' ? body.model : '',
      stream: !counting && body.stream === true,
      maxOutputTokens: counting ? 0 : typeof max === 'number' && max >= 0 ? max : undefined,
    };
  },

  capOutputTokens(surface, body, cap) {
    if (surface !== 'anthropic.messages') return undefined;
    const max = body.max_tokens;
    if (typeof max === 'number' && max <= cap) return undefined;
    const out: Record<string, unknown> = { ...body, max_tokens: cap };
    // Extended thinking must stay below max_tokens (and at least 1,024 tokens): lower its budget with
    // the cap, or turn it off when the cap leaves it no room.
    const thinking = body.thinking;
    if (isObject(thinking) && thinking.type === 'enabled' && typeof thinking.budget_tokens === 'number') {
      if (thinking.budget_tokens >= cap) {
        out.thinking = cap > 1_024 ? { ...thinking, budget_tokens: cap - 1 } : { type: 'disabled' };
      }
    }
    return out;
  },
  requestUsageReporting(): boolean {
    return false;
  },

  usageFromJson(surface: Surface, body: unknown): TokenUsage | null {
    if (surface === 'anthropic.count_tokens' || !isObject(body)) return null;
    return anthropicUsage(body.usage);
  },

  streamTracker(): StreamTracker {
    return new MessagesTracker();
  },

  errorBody(status: number, message: string, _code: string): unknown {
    return { type: 'error', error: { type: errorType(status), message } };
  },
};
