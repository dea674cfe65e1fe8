// What the scanner does not read, per wire format and direction, and why. Everything else in a request
// body, and in a non-streamed response body the client receives, is scanned: a field, block type or
// output item an API adds is text until someone shows here that it is not.
//
// Four reasons only: the model id (routing, checked against the key), enum-valued fields (skipped only
// while the value looks like an enum member, so a credential put there is still found), signed or
// encrypted provider state (changing it makes the provider refuse the call, and it was produced by the
// provider from context that was itself scanned), and binary media (an image is not text; `data:`
// URLs of binary media are recognised by the walker itself, whatever field holds them).
import type { Surface } from '../policy/decision.ts';
import { mediaTypeOf, type Obj, type SkipList, type SkipRule, textMime } from './walk.ts';

const ENUM = 'an enum value naming a shape or option, not text the model reads';

const enumKeys = (...keys: string[]): SkipRule[] =>
  keys.map((key) => ({ key, reason: ENUM, enumOnly: true }));

const binaryMedia = (holder: Obj): boolean => {
  const m = mediaTypeOf(holder);
  if (m !== undefined) return !textMime(m);
  // OpenAI input_audio: { data, format: "wav" | "mp3" }.
  return (
    typeof holder.format === 'string' && /^(?:wav|mp3|flac|opus|pcm16|aac|ogg|webm|m4a)$/.test(holder.format)
  );
};

const COMMON: SkipRule[] = [
  {
    key: 'model',
    topLevel: true,
    enumOnly: true,
    reason: 'the model id: it selects the model, the gateway routes on it and checks it against the key',
  },
  {
    key: 'data',
    when: binaryMedia,
    reason: 'binary media (image, audio, PDF) as base64: not text; text media types are decoded and scanned',
  },
  ...enumKeys(
    'type',
    'role',
    'media_type',
    'mime_type',
    'mimeType',
    'detail',
    'status',
    'stop_reason',
    'finish_reason',
    'finishReason',
    'tool_choice',
    'reasoning_effort',
    'effort',
    'service_tier',
    'truncation',
    'encoding_format',
    'object',
    'language',
    'mode',
    'verbosity',
    'format',
    'modalities',
    'include',
    'ttl',
    'summary',
    'voice',
  ),
];

/** A thinking block's signature and encrypted thinking, in requests and responses alike. */
const THINKING_STATE: SkipRule[] = [
  {
    key: 'signature',
    when: (h) => h.type === 'thinking',
    reason: 'the signature of a thinking block: opaque, checked by the provider',
  },
  {
    key: 'data',
    when: (h) => h.type === 'redacted_thinking',
    reason: 'encrypted thinking: opaque to the model and to us, checked by the provider',
  },
];

const ANTHROPIC: SkipList = {
  format: 'anthropic',
  rules: [
    ...COMMON,
    {
      key: 'thinking',
      when: (h) => h.type === 'thinking',
      reason:
        'a signed thinking block sent back: the provider checks the signature, and made the text itself',
    },
    ...THINKING_STATE,
    ...enumKeys('anthropic_version', 'anthropic_beta'),
  ],
};

const OPENAI: SkipList = {
  format: 'openai',
  rules: [
    ...COMMON,
    {
      key: 'encrypted_content',
      reason: 'reasoning or compaction state encrypted by the provider: opaque, decrypted only by it',
    },
    ...enumKeys('prompt_cache_retention', 'background', 'size', 'quality'),
  ],
};

const GEMINI: SkipList = {
  format: 'gemini',
  rules: [
    ...COMMON,
    {
      key: 'thoughtSignature',
      reason: 'the signature of a thought: opaque, checked by the provider',
    },
    {
      key: 'thought_signature',
      reason: 'the signature of a thought: opaque, checked by the provider',
    },
    ...enumKeys(
      'responseMimeType',
      'response_mime_type',
      'responseModalities',
      'response_modalities',
      'outcome',
      'category',
      'threshold',
      'mediaResolution',
      'media_resolution',
      'thinkingLevel',
      'thinking_level',
      'finish_reason',
    ),
  ],
};

const MCP: SkipList = {
  format: 'mcp',
  rules: [
    ...enumKeys('jsonrpc', 'method', 'mimeType'),
    {
      key: 'data',
      when: binaryMedia,
      reason:
        'binary content (an image or audio a tool returned) as base64: not text; text media types are decoded and scanned',
    },
    {
      key: 'blob',
      when: binaryMedia,
      reason: 'a binary resource as base64: not text; text media types are decoded and scanned',
    },
  ],
};

// ---- Responses: what the client receives --------------------------------------------------------
// The model's own text is everywhere in a response (content, tool-call inputs, citations, reasoning
// shown to the user, output items of types not yet known); only opaque provider state, binary media,
// enum values and, for the Responses API, the request's own fields echoed back are skipped.

const ENCRYPTED = 'provider state encrypted or signed by the provider: opaque, not text anyone reads';

/**
 * The response's own id (`chatcmpl-…`, `msg_…`, `resp_…`, Gemini's `responseId`): the provider makes
 * it up per call, the model does not write it. Scanning it found nothing and cost every answer a
 * cache entry that can never be hit, and a seam scan against the first text after it.
 */
const providerId = (key: string): SkipRule => ({
  key,
  topLevel: true,
  when: (h) => typeof h[key] === 'string' && /^[\w.:-]{1,128}$/.test(h[key] as string),
  reason: "the response's id, made up by the provider for each call: the model did not write it",
});

const ANTHROPIC_RESPONSE: SkipList = {
  format: 'anthropic response',
  rules: [
    ...COMMON,
    providerId('id'),
    ...THINKING_STATE,
    { key: 'encrypted_content', reason: ENCRYPTED },
    { key: 'encrypted_index', reason: ENCRYPTED },
  ],
};

const OPENAI_CHAT_RESPONSE: SkipList = {
  format: 'openai chat response',
  rules: [
    ...COMMON,
    providerId('id'),
    ...enumKeys('system_fingerprint'),
    {
      key: 'data',
      when: (h) => 'transcript' in h,
      reason: 'audio output as base64: not text; its transcript beside it is scanned',
    },
  ],
};

/** A Responses object repeats the request's settings: the client sent them and the request scan read them. */
const ECHO =
  "the request's own field echoed back in the Responses object: the client sent it and the request scan read it; the model did not write it";

const OPENAI_RESPONSES_RESPONSE: SkipList = {
  format: 'openai responses response',
  rules: [
    ...COMMON,
    providerId('id'),
    { key: 'encrypted_content', reason: ENCRYPTED },
    {
      key: 'result',
      when: (h) => h.type === 'image_generation_call',
      reason: 'a generated image as base64: not text',
    },
    ...[
      'instructions',
      'tools',
      'metadata',
      'user',
      'text',
      'prompt',
      'prompt_cache_key',
      'safety_identifier',
      'previous_response_id',
      'conversation',
    ].map((key): SkipRule => ({ key, topLevel: true, reason: ECHO })),
  ],
};

const GEMINI_RESPONSE: SkipList = {
  format: 'gemini response',
  rules: [
    ...GEMINI.rules,
    providerId('responseId'),
    ...enumKeys('probability', 'blockReason', 'block_reason', 'modelVersion', 'model_version'),
  ],
};

/** The skip list of a surface's wire format; unknown surfaces skip only the common fields. */
export function skipListFor(surface: Surface | string, stage: 'request' | 'response' = 'request'): SkipList {
  if (stage === 'response') return responseSkipListFor(surface);
  if (surface.startsWith('anthropic.')) return ANTHROPIC;
  if (surface.startsWith('openai.')) return OPENAI;
  if (surface.startsWith('gemini.')) return GEMINI;
  if (surface.startsWith('mcp.')) return MCP;
  return { format: 'other', rules: COMMON };
}

function responseSkipListFor(surface: Surface | string): SkipList {
  if (surface.startsWith('anthropic.')) return ANTHROPIC_RESPONSE;
  if (surface === 'openai.responses') return OPENAI_RESPONSES_RESPONSE;
  if (surface.startsWith('openai.')) return OPENAI_CHAT_RESPONSE;
  if (surface.startsWith('gemini.')) return GEMINI_RESPONSE;
  if (surface.startsWith('mcp.')) return MCP;
  return { format: 'other', rules: COMMON };
}

/** Every skip list, for documentation and tests. */
export const SKIP_LISTS: readonly SkipList[] = [
  ANTHROPIC,
  OPENAI,
  GEMINI,
  MCP,
  ANTHROPIC_RESPONSE,
  OPENAI_CHAT_RESPONSE,
  OPENAI_RESPONSES_RESPONSE,
  GEMINI_RESPONSE,
];
