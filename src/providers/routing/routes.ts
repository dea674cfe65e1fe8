// The Route documents of a snapshot, compiled once per snapshot: which route a call takes, and the
// ordered candidates (weighted pick first, the other targets, then fallbacks) it will try.
import type { Surface } from '../../policy/decision.ts';
import type { Route } from '../../policy/generated/index.ts';
import { globToRegExp, pricedModelId } from '../../policy/models.ts';
import type { ResolvedKey, ResolvedProvider, Snapshot } from '../../policy/snapshot.ts';
import { type ChatSurface, isChatSurface } from '../translate/index.ts';
import type { BreakerSettings, CircuitBreakers, CircuitState } from './breaker.ts';
import type { FailureKind, RetrySettings } from './retry.ts';

export interface RouteTarget {
  provider: string;
  /** Undefined: the model the client asked for. */
  model?: string;
  weight: number;
  role: 'target' | 'fallback';
}

export interface CompiledRoute {
  name: string;
  priority: number;
  models: RegExp[];
  surfaces?: readonly string[];
  teams?: readonly string[];
  keys?: readonly string[];
  targets: RouteTarget[];
  fallbacks: RouteTarget[];
  retry: RetrySettings;
  breaker: BreakerSettings;
  translation: { allowed: boolean; hostedTools: 'refuse' | 'drop'; openaiSurface: 'chat' | 'responses' };
}

/** One place a call may go, resolved against the snapshot's providers. */
export interface Candidate {
  /** Index in the route's targets then fallbacks (what the policy's `routeTargets` names). */
  index: number;
  provider: ResolvedProvider;
  model: string;
  role: 'target' | 'fallback';
  weight: number;
  /** The surface the upstream is called on. */
  surface: ChatSurface | Surface;
  translated: boolean;
  /** A token count for a model in another format: the gateway estimates it instead of asking. */
  countLocally: boolean;
  circuit: CircuitState;
  /** Circuit breaker id. */
  breakerId: string;
}

export interface RoutePlan {
  route: CompiledRoute;
  requestedModel: string;
  /** In the order they will be tried; those with an open circuit left out. */
  candidates: Candidate[];
  /** Every target and fallback, open circuits included (the decision input). */
  all: Candidate[];
}

const DEFAULT_RETRY: RetrySettings = {
  on: ['429', '5xx', 'timeout', 'connection'],
  maxAttempts: 3,
  backoffMs: 250,
  maxBackoffMs: 4000,
};

function compile(doc: Route): CompiledRoute {
  const s = doc.spec;
  const target =
    (role: 'target' | 'fallback') => (t: { provider: string; model?: string; weight?: number }) => ({
      provider: t.provider,
      model: t.model,
      weight: t.weight ?? 1,
      role,
    });
  return {
    name: doc.metadata.name,
    priority: s.priority ?? 100,
    models: s.match.models.map(globToRegExp),
    surfaces: s.match.surfaces,
    teams: s.match.teams,
    keys: s.match.keys,
    targets: s.targets.map(target('target')),
    fallbacks: (s.fallbacks ?? []).map(target('fallback')),
    retry: {
      on: (s.retry?.on as FailureKind[] | undefined) ?? DEFAULT_RETRY.on,
      maxAttempts: s.retry?.maxAttempts ?? DEFAULT_RETRY.maxAttempts,
      backoffMs: s.retry?.backoffMs ?? DEFAULT_RETRY.backoffMs,
      maxBackoffMs: s.retry?.maxBackoffMs ?? DEFAULT_RETRY.maxBackoffMs,
    },
    breaker: {
      failures: s.circuitBreaker?.failures ?? 5,
      cooldownMs: s.circuitBreaker?.cooldownMs ?? 30_000,
    },
    translation: {
      allowed: s.translation?.allowed ?? true,
      hostedTools: s.translation?.hostedTools ?? 'refuse',
      openaiSurface: s.translation?.openaiSurface ?? 'chat',
    },
  };
}

/** Token counting belongs to its API's messages surface: a route for one serves the other. */
const COUNTED: Partial<Record<Surface, Surface>> = {
  'anthropic.count_tokens': 'anthropic.messages',
  'gemini.count_tokens': 'gemini.generate',
};

const tables = new WeakMap<Snapshot, CompiledRoute[]>();

/** The snapshot's routes, best first (lowest priority, then name). */
export function routesOf(snapshot: Snapshot): CompiledRoute[] {
  let table = tables.get(snapshot);
  if (table === undefined) {
    const docs = [...(snapshot.documents.get('Route')?.values() ?? [])] as unknown as Route[];
    table = docs.map(compile).sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : 1));
    tables.set(snapshot, table);
  }
  return table;
}

export function matchRoute(
  routes: readonly CompiledRoute[],
  surface: Surface,
  model: string,
  key: ResolvedKey | null,
): CompiledRoute | undefined {
  for (const r of routes) {
    if (r.surfaces !== undefined && !r.surfaces.includes(COUNTED[surface] ?? surface)) continue;
    if (r.keys !== undefined && (key === null || !r.keys.includes(key.id))) continue;
    if (r.teams !== undefined && (key === null || !key.teams.some((t) => r.teams!.includes(t)))) continue;
    if (r.models.some((re) => re.test(model))) return r;
  }
  return undefined;
}

/** The surface a provider is called on for a call that arrived on `surface`. */
export function upstreamSurface(
  surface: Surface,
  provider: ResolvedProvider,
  route: CompiledRoute,
): Surface | ChatSurface {
  if (provider.cloud?.bedrock?.api === 'converse') return 'bedrock.converse';
  if (provider.api === 'anthropic')
    return surface === 'anthropic.count_tokens' ? surface : 'anthropic.messages';
  if (provider.api === 'gemini') return surface === 'gemini.count_tokens' ? surface : 'gemini.generate';
  if (surface.startsWith('openai.')) return surface;
  return route.translation.openaiSurface === 'responses' ? 'openai.responses' : 'openai.chat';
}

/** Weighted choice among `items` (weights > 0); `random` in [0, 1). */
function weightedIndex(weights: readonly number[], random: number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  if (total <= 0) return -1;
  let x = random * total;
  for (let i = 0; i < weights.length; i++) {
    x -= weights[i];
    if (x < 0 && weights[i] > 0) return i;
  }
  return weights.findLastIndex((w) => w > 0);
}

export function planRoute(
  snapshot: Snapshot,
  route: CompiledRoute,
  surface: Surface,
  requestedModel: string,
  breakers: CircuitBreakers,
  random: () => number = Math.random,
): RoutePlan {
  const all: Candidate[] = [];
  [...route.targets, ...route.fallbacks].forEach((t, index) => {
    const provider = snapshot.providers.get(t.provider);
    if (provider === undefined) return;
    const up = upstreamSurface(surface, provider, route);
    // A call that cannot be carried to this provider's format (counting tokens, embeddings) skips it.
    const countLocally = up !== surface && COUNTED[surface] !== undefined;
    if (up !== surface && !countLocally && !(isChatSurface(surface) && isChatSurface(up))) return;
    const model = t.model ?? requestedModel;
    // A provider that does not price the model does not serve it.
    if (pricedModelId(provider.models, model) === undefined) return;
    const breakerId = `${route.name}/${t.provider}/${model}`;
    all.push({
      index,
      provider,
      model,
      role: t.role,
      weight: t.weight,
      surface: up,
      translated: up !== surface,
      countLocally,
      circuit: breakers.state(breakerId, route.breaker),
      breakerId,
    });
  });
  const usable = all.filter((c) => c.circuit !== 'open' && (route.translation.allowed || !c.translated));
  const targets = usable.filter((c) => c.role === 'target');
  const first = weightedIndex(
    targets.map((c) => c.weight),
    random(),
  );
  const ordered: Candidate[] = [];
  if (first >= 0) ordered.push(targets[first]);
  // The rest of the targets by weight, then the fallbacks in their order.
  ordered.push(...targets.filter((_, i) => i !== first).sort((a, b) => b.weight - a.weight));
  ordered.push(...usable.filter((c) => c.role === 'fallback'));
  return { route, requestedModel, candidates: ordered, all };
}

/** The price entry of a candidate's model at its provider. */
export function candidatePrice(c: Candidate) {
  const id = pricedModelId(c.provider.models, c.model);
  return id === undefined ? undefined : c.provider.models.get(id);
}
