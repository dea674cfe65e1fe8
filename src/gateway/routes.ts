// The inference surfaces the gateway serves, each at the SDK's default path and under a per-API prefix
// (`/openai`, `/anthropic`, `/gemini`). The upstream path is rebuilt from the route, never copied from
// the client's URL.
import type { Surface } from '../policy/decision.ts';
import type { ProviderApi } from '../policy/snapshot.ts';

export interface RouteSpec {
  method: 'GET' | 'POST';
  /** fastify path at the root; also mounted under `/<api>`. */
  path: string;
  api: ProviderApi;
  /** Fixed surface; Gemini's comes from the action in the path. */
  surface: Surface;
  /** Upstream path for fixed routes. */
  upstreamPath: string;
  /** Gemini routes: the path is `/<version>/models/<model>:<action>`. */
  gemini?: { version: 'v1beta' | 'v1' };
  /** Answered by the gateway itself (model listing). */
  local?: 'models' | 'model';
}

export const ROUTES: readonly RouteSpec[] = [
  {
    method: 'POST',
    path: '/v1/chat/completions',
    api: 'openai',
    surface: 'openai.chat',
    upstreamPath: '/v1/chat/completions',
  },
  {
    method: 'POST',
    path: '/v1/responses',
    api: 'openai',
    surface: 'openai.responses',
    upstreamPath: '/v1/responses',
  },
  {
    method: 'POST',
    path: '/v1/responses/compact',
    api: 'openai',
    surface: 'openai.responses',
    upstreamPath: '/v1/responses/compact',
  },
  {
    method: 'POST',
    path: '/v1/embeddings',
    api: 'openai',
    surface: 'openai.embeddings',
    upstreamPath: '/v1/embeddings',
  },
  {
    method: 'GET',
    path: '/v1/models',
    api: 'openai',
    surface: 'openai.models',
    upstreamPath: '',
    local: 'models',
  },
  {
    method: 'GET',
    path: '/v1/models/:model',
    api: 'openai',
    surface: 'openai.models',
    upstreamPath: '',
    local: 'model',
  },
  {
    method: 'POST',
    path: '/v1/messages',
    api: 'anthropic',
    surface: 'anthropic.messages',
    upstreamPath: '/v1/messages',
  },
  {
    method: 'POST',
    path: '/v1/messages/count_tokens',
    api: 'anthropic',
    surface: 'anthropic.count_tokens',
    upstreamPath: '/v1/messages/count_tokens',
  },
  {
    method: 'POST',
    path: '/v1beta/models/:modelAction',
    api: 'gemini',
    surface: 'gemini.generate',
    upstreamPath: '',
    gemini: { version: 'v1beta' },
  },
  {
    method: 'POST',
    path: '/v1/models/:modelAction',
    api: 'gemini',
    surface: 'gemini.generate',
    upstreamPath: '',
    gemini: { version: 'v1' },
  },
];

export const API_PREFIXES: Readonly<Record<ProviderApi, string>> = {
  openai: '/openai',
  anthropic: '/anthropic',
  gemini: '/gemini',
};

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface GeminiTarget {
  model: string;
  action: 'generateContent' | 'streamGenerateContent' | 'countTokens';
  surface: Surface;
  stream: boolean;
}

/** `gemini-2.5-pro:streamGenerateContent` → its parts; null for anything else. */
export function parseGeminiTarget(modelAction: string): GeminiTarget | null {
  const colon = modelAction.lastIndexOf(':');
  if (colon <= 0) return null;
  const model = modelAction.slice(0, colon);
  const action = modelAction.slice(colon + 1);
  if (!MODEL_NAME.test(model) || model.includes('..')) return null;
  switch (action) {
    case 'generateContent':
      return { model, action, surface: 'gemini.generate', stream: false };
    case 'streamGenerateContent':
      return { model, action, surface: 'gemini.generate', stream: true };
    case 'countTokens':
      return { model, action, surface: 'gemini.count_tokens', stream: false };
    default:
      return null;
  }
}

/** Which API's error format to use for a URL no route matched. */
export function apiForUrl(url: string): ProviderApi {
  if (
    url.startsWith('/gemini/') ||
    url.startsWith('/v1beta/') ||
    /:(generate|streamGenerate|count)/.test(url)
  ) {
    return 'gemini';
  }
  if (url.startsWith('/anthropic/') || url.startsWith('/v1/messages')) return 'anthropic';
  return 'openai';
}
