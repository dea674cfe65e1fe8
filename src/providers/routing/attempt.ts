// One attempt at a call on one candidate: the upstream request (translated into the candidate's wire
// format, the model swapped for an alias, signed or authorised for a cloud) and the Exchange that reads
// the answer back into the client's format.
import type { Surface } from '../../policy/decision.ts';
import type { ProviderApi, ResolvedProvider } from '../../policy/snapshot.ts';
import { cloudClient } from '../cloud/index.ts';
import { adapters } from '../index.ts';
import { converseUsageReader } from '../translate/converse.ts';
import { Exchange } from '../translate/exchange.ts';
import { type ChatSurface, isChatSurface, TranslationError, translateRequest } from '../translate/index.ts';

export interface AttemptTarget {
  provider: ResolvedProvider;
  model: string;
  /** The surface the provider is called on. */
  surface: Surface | ChatSurface;
}

export interface AttemptRequest {
  clientApi: ProviderApi;
  clientSurface: Surface;
  /** The client's body after the rewrite stage. */
  body: Record<string, unknown>;
  requestedModel: string;
  stream: boolean;
  /** The path the client's own surface would use upstream (no base path), e.g. `/v1/messages`. */
  clientPath: string;
  /** The client's query for upstream (credentials already removed), `?…` or ''. */
  query: string;
  /** Upstream request headers derived from the client's (beta flags are read from them). */
  headers: Record<string, string>;
  hostedTools: 'refuse' | 'drop';
  /** The gateway asked a Chat Completions upstream for usage the client did not: not shown to it. */
  hideUsageChunk?: boolean;
}

export interface PreparedAttempt {
  /** Path and query, base path included. */
  path: string;
  body: Buffer;
  /** Headers to set on top of the usual upstream headers, and names to remove. */
  headers: Record<string, string>;
  remove: string[];
  /** Reads the answer back into the client's format; null when it already is. */
  exchange: Exchange | null;
  /** What was left out on the way (hosted tools, beta flags), for a header and the audit record. */
  dropped: string[];
  translated: boolean;
}

const FOREIGN_HEADERS = ['anthropic-', 'openai-', 'x-goog-'];
const OWN_PREFIX: Record<ProviderApi, string> = {
  anthropic: 'anthropic-',
  openai: 'openai-',
  gemini: 'x-goog-',
};

/** The Gemini path for another model (the model is in Gemini's path). */
function withModel(path: string, surface: Surface, model: string): string {
  if (!surface.startsWith('gemini.')) return path;
  return path.replace(/\/models\/[^/:]+:/, `/models/${encodeURIComponent(model)}:`);
}

/** Prepares an attempt; throws TranslationError for what cannot go to this target, Error for a cloud that cannot authorise. */
export async function prepareAttempt(
  req: AttemptRequest,
  target: AttemptTarget,
  origin: URL,
  basePath: string,
): Promise<PreparedAttempt> {
  const translated = target.surface !== req.clientSurface;
  let body: Record<string, unknown>;
  let path: string;
  let dropped: string[] = [];
  let answer: Exchange['spec']['answer'];
  if (translated) {
    if (!isChatSurface(req.clientSurface) || !isChatSurface(target.surface))
      throw new TranslationError(`${req.clientSurface} calls cannot be translated for ${target.surface}`);
    // A translated Gemini stream is written as SSE: a client reading a JSON array would not understand it.
    if (req.clientSurface === 'gemini.generate' && req.stream && !/[?&]alt=sse(&|$)/.test(req.query))
      throw new TranslationError('a streamed call to a model in another format must ask for alt=sse');
    const price = [...target.provider.models.values()].find((m) => m.id === target.model);
    const t = translateRequest(req.clientSurface, target.surface, req.body, {
      clientModel: req.requestedModel,
      upstreamModel: target.model,
      stream: req.stream,
      defaultMaxTokens: price?.maxOutputTokens,
      hostedTools: req.hostedTools,
    });
    body = t.body;
    path = t.path;
    if (req.hideUsageChunk === true) t.answer.streamUsage = false;
    dropped = t.dropped;
    answer = t.answer;
  } else {
    body = req.clientSurface.startsWith('gemini.') ? req.body : { ...req.body, model: target.model };
    path = withModel(req.clientPath, req.clientSurface, target.model) + req.query;
  }
  const cloud = cloudClient(target.provider);
  if (cloud !== null) {
    if (cloud.problem !== null) throw new Error(cloud.problem);
    const p = await cloud.prepare(origin, basePath, {
      surface: target.surface,
      model: target.model,
      stream: req.stream,
      body,
      headers: req.headers,
    });
    dropped.push(...p.dropped.map((d) => (d.startsWith('field ') ? d : `beta ${d}`)));
    return {
      path: p.path,
      body: p.body,
      headers: p.headers,
      remove: p.remove,
      exchange: new Exchange({
        clientApi: req.clientApi,
        clientSurface: req.clientSurface,
        upstreamUsage:
          target.surface === 'bedrock.converse' ? converseUsageReader : adapters[target.provider.api],
        upstreamSurface: target.surface,
        answer,
        eventStream: p.eventStream,
        provider: target.provider.id,
      }),
      dropped,
      translated,
    };
  }
  return {
    path: basePath + path,
    body: Buffer.from(JSON.stringify(body)),
    headers: {},
    // Another provider has no use for the client's API-specific headers.
    remove: translated ? FOREIGN_HEADERS.filter((h) => !h.startsWith(OWN_PREFIX[target.provider.api])) : [],
    exchange: translated
      ? new Exchange({
          clientApi: req.clientApi,
          clientSurface: req.clientSurface,
          upstreamUsage: adapters[target.provider.api],
          upstreamSurface: target.surface,
          answer,
          eventStream: false,
          provider: target.provider.id,
        })
      : null,
    dropped,
    translated,
  };
}
