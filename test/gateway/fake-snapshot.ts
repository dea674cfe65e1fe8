// A hand-made Snapshot for unit tests of the data plane: three providers pointing at a simulator,
// keys in every state, and a small TypeScript decision that mirrors the example policy's rules.
import { hash } from 'node:crypto';
import type { Decision, DecisionInput } from '../../src/policy/decision.ts';
import type {
  GatewaySettings,
  ModelPrice,
  ProviderApi,
  ResolvedKey,
  ResolvedProvider,
  Snapshot,
} from '../../src/policy/snapshot.ts';

export const KEYS = {
  good: 'pcl_test_good_key_0000000000000000000000000000',
  limited: 'pcl_test_limited_key_00000000000000000000000000',
  disabled: 'pcl_test_disabled_key_0000000000000000000000000',
  expired: 'pcl_test_expired_key_00000000000000000000000000',
};

function price(id: string, input: number, output: number, cached: number, maxOut = 4096): ModelPrice {
  return {
    id,
    inputPerMTok: input,
    outputPerMTok: output,
    cachedInputPerMTok: cached,
    cacheWrite5mPerMTok: input * 1.25,
    cacheWrite1hPerMTok: input * 2,
    maxOutputTokens: maxOut,
  };
}

function provider(
  id: string,
  api: ProviderApi,
  baseUrl: string,
  models: ModelPrice[],
  timeoutMs: number,
): ResolvedProvider {
  return {
    id,
    api,
    baseUrl,
    credential: { env: `FAKE_${id.toUpperCase()}_KEY` },
    headers: {},
    models: new Map(models.map((m) => [m.id, m])),
    timeoutMs,
  };
}

function key(id: string, secret: string, extra: Partial<ResolvedKey> = {}): ResolvedKey {
  return {
    id,
    hash: hash('sha256', secret, 'hex'),
    owner: `${id}@example.com`,
    team: 'platform',
    teams: ['platform', 'acme'],
    disabled: false,
    providers: [],
    models: ['*'],
    budgets: [],
    rateLimits: {},
    modelRateLimits: [],
    outputCaps: [],
    contentLogging: false,
    labels: {},
    ...extra,
  };
}

/** Provider credentials the fake providers read from the environment. */
export const UPSTREAM_SECRETS = {
  openai: 'sk-upstream-openai-test',
  anthropic: 'sk-upstream-anthropic-test',
  google: 'upstream-google-test',
};

export function setUpstreamEnv(): void {
  process.env.FAKE_OPENAI_KEY = UPSTREAM_SECRETS.openai;
  process.env.FAKE_ANTHROPIC_KEY = UPSTREAM_SECRETS.anthropic;
  process.env.FAKE_GOOGLE_KEY = UPSTREAM_SECRETS.google;
}

function deny(status: number, code: string, message: string, retryAfterSeconds?: number): Decision {
  return { allow: false, status, code, reasons: [message], redact: [], stripTools: [], retryAfterSeconds };
}

export function defaultEvaluate(input: DecisionInput): Decision {
  if (input.auth.status !== 'ok' && (input.auth.enforced || input.auth.status !== 'missing')) {
    return deny(401, `key_${input.auth.status}`, `The key is ${input.auth.status}.`);
  }
  if (input.model === 'rate-limited-model') return deny(429, 'rate_limited', 'Slow down.', 7);
  if (input.surface !== 'openai.models' && input.pricedModel === undefined) {
    return deny(404, 'model_not_found', `Model ${input.model} is not offered.`);
  }
  if (
    input.key !== null &&
    !input.key.models.some((g) => new RegExp(`^${g.replace(/\*/g, '.*')}$`).test(input.model))
  ) {
    return deny(403, 'model_not_allowed', `Key ${input.key.id} may not use model ${input.model}.`);
  }
  return { allow: true, status: 200, code: 'ok', reasons: [], redact: [], stripTools: [] };
}

export interface FakeOptions {
  upstream: string;
  timeoutMs?: number;
  gateway?: Partial<GatewaySettings>;
  evaluate?: (input: DecisionInput) => Decision;
  revision?: string;
}

export function fakeSnapshot(opts: FakeOptions): Snapshot & { inputs: DecisionInput[] } {
  const timeout = opts.timeoutMs ?? 5000;
  const providers = new Map<string, ResolvedProvider>([
    [
      'openai',
      provider(
        'openai',
        'openai',
        opts.upstream,
        [
          price('gpt-5', 1.25, 10, 0.125),
          price('text-embedding-3-small', 0.02, 0, 0.02, 1),
          price('sim-error-500', 1, 1, 1),
        ],
        timeout,
      ),
    ],
    [
      'anthropic',
      provider(
        'anthropic',
        'anthropic',
        opts.upstream,
        [price('claude-sonnet-4-5', 3, 15, 0.3), price('rate-limited-model', 1, 1, 1)],
        timeout,
      ),
    ],
    [
      'google',
      provider('google', 'gemini', opts.upstream, [price('gemini-2.5-pro', 1.25, 10, 0.125)], timeout),
    ],
  ]);
  const keys = [
    key('good', KEYS.good),
    key('limited', KEYS.limited, { models: ['claude-*'], providers: ['anthropic'] }),
    key('disabled', KEYS.disabled, { disabled: true }),
    key('expired', KEYS.expired, { expiresAt: Date.now() - 1000 }),
  ];
  const inputs: DecisionInput[] = [];
  const evaluate = opts.evaluate ?? defaultEvaluate;
  return {
    inputs,
    revision: opts.revision ?? 'fake0000000000000000',
    source: { revision: opts.revision ?? 'fake0000000000000000', dir: '/dev/null' },
    builtAt: Date.now(),
    gateway: {
      enforceAuthOnInference: true,
      budgetTimezone: 'UTC',
      failMode: 'closed',
      limits: { store: 'sqlite' },
      maxRequestBytes: 1024 * 1024,
      alerts: { channels: [], maxPerMinute: 60 },
      audit: { contentLogging: false, sinks: [] },
      ...opts.gateway,
    },
    keys: new Map(keys.map((k) => [k.id, k])),
    keysByHash: new Map(keys.map((k) => [k.hash, k])),
    teams: new Map(),
    providers,
    documents: new Map(),
    providerFor(api, model) {
      for (const p of providers.values()) if (p.api === api && p.models.has(model)) return p;
      for (const p of providers.values()) if (p.api === api) return p;
      return undefined;
    },
    evaluate(input) {
      inputs.push(structuredClone(input));
      return evaluate(input);
    },
  };
}
