// A Call as the pipeline leaves it after the facts and route stages, for testing plugins on their own.
import { Call } from '../../../src/gateway/call.ts';
import { decisionInput } from '../../../src/gateway/decision-input.ts';
import type { Decision, Surface } from '../../../src/policy/decision.ts';
import type { ProviderApi, ResolvedKey, Snapshot } from '../../../src/policy/snapshot.ts';
import { adapters } from '../../../src/providers/index.ts';
import { priceFor } from '../../../src/providers/pricing.ts';

export interface CallSpec {
  snapshot: Snapshot;
  surface?: Surface;
  api?: ProviderApi;
  key?: ResolvedKey | null;
  body?: Record<string, unknown>;
  id?: string;
}

export function testCall(spec: CallSpec): Call {
  const surface = spec.surface ?? 'anthropic.messages';
  const api = spec.api ?? 'anthropic';
  const call = new Call(spec.id ?? 'req-test', spec.snapshot, surface, api, adapters[api]);
  const key = spec.key === undefined ? [...spec.snapshot.keys.values()][0] : spec.key;
  call.auth = { status: key === null ? 'missing' : 'ok', key };
  const body = spec.body ?? { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [] };
  call.body = body;
  call.rawBody = Buffer.from(JSON.stringify(body));
  const facts = adapters[api].requestFacts(surface, body, {});
  const provider = spec.snapshot.providerFor(api, facts.model);
  const price = provider === undefined ? undefined : priceFor(provider, facts.model);
  if (provider !== undefined) call.route = { provider, price };
  call.input = decisionInput({
    surface,
    provider: provider?.id,
    model: facts.model,
    pricedModel: price?.id,
    stream: facts.stream,
    sizes: {
      bodyBytes: call.rawBody.length,
      estimatedInputTokens: 1,
      maxOutputTokens: facts.maxOutputTokens ?? 0,
    },
    auth: { status: call.auth.status, enforced: true },
    key,
    findings: call.findings,
    nowMs: call.startedAt,
  });
  return call;
}

export const ALLOW: Decision = {
  allow: true,
  status: 200,
  code: 'ok',
  reasons: [],
  redact: [],
  stripTools: [],
};
