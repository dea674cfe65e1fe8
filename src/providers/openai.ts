// OpenAI wire format: Chat Completions, Responses, Embeddings, Models.
import type { Surface } from '../policy/decision.ts';
import type { SseEvent } from './sse.ts';
import { eventJson, SseUsageTracker } from './tracker.ts';
import {
  isObject,
  num,
  type PathFacts,
  type ProviderAdapter,
  type RequestFacts,
  type StreamOptions,
  type StreamTracker,
  type TokenUsage,
} from './types.ts';

function errorType(status: number): string {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 402:
      return 'insufficient_quota';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 429:
      return 'rate_limit_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

function firstNumber(...values: unknown[]): number | undefined {
  for (const v of values) if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  return undefined;
}

/** Chat Completions, Responses and Embeddings usage objects all land here. */
export function openaiUsage(u: unknown): TokenUsage | null {
  if (!isObject(u)) return null;
  const chat = 'prompt_tokens' in u;
  const input = num(chat ? u.prompt_tokens : u.input_tokens);
  const output = num(chat ? u.completion_tokens : u.output_tokens);
  const details = chat ? u.prompt_tokens_details : u.input_tokens_details;
  const cached = Math.min(input, isObject(details) ? num(details.cached_tokens) : 0);
  return {
    inputTokens: input - cached,
    cachedInputTokens: cached,
    cacheWriteTokens: 0,
    cacheWriteLongTokens: 0,
    outputTokens: output,
  };
}

class ChatTracker extends SseUsageTracker {
  readonly #hideUsage: boolean;
  constructor(opts: StreamOptions) {
    super(opts.hideUsageChunk);
    this.#hideUsage = opts.hideUsageChunk;
  }
  protected onEvent(ev: SseEvent): boolean {
    if (ev.data === '[DONE]' || ev.data === '') return true;
    const chunk = eventJson(ev);
    if (!isObject(chunk)) return true;
    const choices = chunk.choices;
    if (Array.isArray(choices)) {
      for (const c of choices) {
        const d = isObject(c) ? c.delta : undefined;
        if (!isObject(d)) continue;
        if (typeof d.content === 'string') this.textChars += d.content.length;
        if (Array.isArray(d.tool_calls)) {
          for (const tc of d.tool_calls) {
            const fn = isObject(tc) ? tc.function : undefined;
            if (isObject(fn) && typeof fn.arguments === 'string') this.textChars += fn.arguments.length;
          }
        }
      }
    }
    const usage = openaiUsage(chunk.usage);
    if (usage !== null) {
      this.reported = usage;
      this.outputReported = true;
      // The usage-only chunk the gateway asked for; the client did not.
      if (this.#hideUsage && Array.isArray(choices) && choices.length === 0) return false;
    }
    return true;
  }
}

const FINAL_RESPONSE_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

class ResponsesTracker extends SseUsageTracker {
  constructor() {
    super(false);
  }
  protected onEvent(ev: SseEvent): boolean {
    const msg = eventJson(ev);
    if (!isObject(msg)) return true;
    const type = typeof msg.type === 'string' ? msg.type : ev.event;
    if (type.endsWith('.delta') && typeof msg.delta === 'string') {
      this.textChars += msg.delta.length;
    } else if (FINAL_RESPONSE_EVENTS.has(type) && isObject(msg.response)) {
      const usage = openaiUsage(msg.response.usage);
      if (usage !== null) {
        this.reported = usage;
        this.outputReported = true;
      }
    }
    return true;
  }
}

class NoUsageTracker extends SseUsageTracker {
  constructor() {
    super(false);
  }
  protected onEvent(): boolean {
    return true;
  }
}

export const openaiAdapter: ProviderAdapter = {
  api: 'openai',
  defaultHeaders: {},
  usageKey: 'usage',

  authHeaders(credential: string): Record<string, string> {
    return { authorization: `Bearer ${credential}` };
  },

  requestFacts(surface: Surface, body: Record<string, unknown>, _path: PathFacts): RequestFacts {
    const model = typeof body.model === 'string' ? body.model : '';
    let maxOutputTokens: number | undefined;
    if (surface === 'openai.chat') maxOutputTokens = firstNumber(body.max_completion_tokens, body.max_tokens);
    else if (surface === 'openai.responses') maxOutputTokens = firstNumber(body.max_output_tokens);
    else maxOutputTokens = 0;
    return { model, stream: body.stream === true, maxOutputTokens };
  },

  capOutputTokens(surface, body, cap) {
    if (surface === 'openai.chat') {
      const max = firstNumber(body.max_completion_tokens, body.max_tokens);
      if (max !== undefined && max <= cap) return undefined;
      // max_tokens is deprecated and refused by reasoning models; max_completion_tokens replaces it.
      const { max_tokens: _old, ...rest } = body;
      return { ...rest, max_completion_tokens: cap };
    }
    if (surface === 'openai.responses') {
      const max = firstNumber(body.max_output_tokens);
      if (max !== undefined && max <= cap) return undefined;
      return { ...body, max_output_tokens: cap };
    }
    return undefined;
  },
  requestUsageReporting(surface: Surface, body: Record<string, unknown>): boolean {
    if (surface !== 'openai.chat' || body.stream !== true) return false;
    const opts = body.stream_options;
    if (isObject(opts) && opts.include_usage === true) return false;
    body.stream_options = isObject(opts) ? { ...opts, include_usage: true } : { include_usage: true };
    return true;
  },

  usageFromJson(_surface: Surface, body: unknown): TokenUsage | null {
    return isObject(body) ? openaiUsage(body.usage) : null;
  },

  streamTracker(surface: Surface, opts: StreamOptions): StreamTracker {
    if (surface === 'openai.chat') return new ChatTracker(opts);
    if (surface === 'openai.responses') return new ResponsesTracker();
    return new NoUsageTracker();
  },

  errorBody(status: number, message: string, code: string): unknown {
    return { error: { message, type: errorType(status), param: null, code } };
  },
};
