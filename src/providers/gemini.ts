// Gemini API wire format: generateContent, streamGenerateContent (SSE with alt=sse), countTokens.
import type { Surface } from '../policy/decision.ts';
import type { SseEvent } from './sse.ts';
import { eventJson, SseUsageTracker } from './tracker.ts';
import {
  isObject,
  num,
  type PathFacts,
  type ProviderAdapter,
  type RequestFacts,
  type StreamTracker,
  type TokenUsage,
} from './types.ts';

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  402: 'RESOURCE_EXHAUSTED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** `usageMetadata`: promptTokenCount includes cached tokens; thoughts are billed as output. */
export function geminiUsage(u: unknown): TokenUsage | null {
  if (!isObject(u)) return null;
  const prompt = num(u.promptTokenCount) + num(u.toolUsePromptTokenCount);
  const cached = Math.min(prompt, num(u.cachedContentTokenCount));
  return {
    inputTokens: prompt - cached,
    cachedInputTokens: cached,
    cacheWriteTokens: 0,
    cacheWriteLongTokens: 0,
    outputTokens: num(u.candidatesTokenCount) + num(u.thoughtsTokenCount),
  };
}

function countText(msg: Record<string, unknown>): number {
  let n = 0;
  if (!Array.isArray(msg.candidates)) return n;
  for (const c of msg.candidates) {
    const content = isObject(c) ? c.content : undefined;
    if (!isObject(content) || !Array.isArray(content.parts)) continue;
    for (const p of content.parts) if (isObject(p) && typeof p.text === 'string') n += p.text.length;
  }
  return n;
}

class GenerateTracker extends SseUsageTracker {
  constructor() {
    super(false);
  }
  protected onEvent(ev: SseEvent): boolean {
    const msg = eventJson(ev);
    if (!isObject(msg)) return true;
    this.textChars += countText(msg);
    // Each chunk repeats the running totals; the last one is the call's usage.
    const meta = msg.usageMetadata;
    const usage = geminiUsage(meta);
    if (usage !== null) {
      this.reported = usage;
      if (isObject(meta) && 'candidatesTokenCount' in meta) this.outputReported = true;
    }
    return true;
  }
}

export const geminiAdapter: ProviderAdapter = {
  api: 'gemini',
  defaultHeaders: {},
  usageKey: 'usageMetadata',

  authHeaders(credential: string): Record<string, string> {
    return { 'x-goog-api-key': credential };
  },

  requestFacts(surface: Surface, body: Record<string, unknown>, path: PathFacts): RequestFacts {
    const counting = surface === 'gemini.count_tokens';
    let maxOutputTokens: number | undefined;
    if (counting) maxOutputTokens = 0;
    else {
      const cfg = body.generationConfig ?? body.generation_config;
      const max = isObject(cfg) ? (cfg.maxOutputTokens ?? cfg.max_output_tokens) : undefined;
      if (typeof max === 'number' && max >= 0) maxOutputTokens = max;
    }
    return {
      model: path.model ?? '',
      stream: path.stream === true,
      maxOutputTokens,
    };
  },

  capOutputTokens(surface, body, cap) {
    if (surface !== 'gemini.generate') return undefined;
    const key =
      'generationConfig' in body || !('generation_config' in body) ? 'generationConfig' : 'generation_config';
    const cfg = isObject(body[key]) ? (body[key] as Record<string, unknown>) : {};
    const max = cfg.maxOutputTokens ?? cfg.max_output_tokens;
    if (typeof max === 'number' && max <= cap) return undefined;
    const { max_output_tokens: _snake, ...rest } = cfg;
    return { ...body, [key]: { ...rest, maxOutputTokens: cap } };
  },
  requestUsageReporting(): boolean {
    return false;
  },

  usageFromJson(surface: Surface, body: unknown): TokenUsage | null {
    if (surface === 'gemini.count_tokens') return null;
    // streamGenerateContent without alt=sse answers a JSON array of chunks.
    if (Array.isArray(body)) {
      for (let i = body.length - 1; i >= 0; i--) {
        const el = body[i];
        if (isObject(el) && isObject(el.usageMetadata)) return geminiUsage(el.usageMetadata);
      }
      return null;
    }
    return isObject(body) ? geminiUsage(body.usageMetadata) : null;
  },

  streamTracker(): StreamTracker {
    return new GenerateTracker();
  },

  errorBody(status: number, message: string, _code: string): unknown {
    return {
      error: {
        code: status,
        message,
        status: STATUS_NAMES[status] ?? (status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION'),
      },
    };
  },
};
