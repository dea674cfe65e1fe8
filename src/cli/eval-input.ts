// Decision inputs for `portcullis policy eval`: built from the policy for a key and a model, or read
// from a file and checked, so that `{}` is refused instead of being decided as an anonymous call.
import { z } from 'zod';
import type { DecisionInput, Surface } from '../policy/decision.ts';
import { keyFacts } from '../policy/key-facts.ts';
import type { ProviderApi, ResolvedProvider, Snapshot } from '../policy/snapshot.ts';
import { priceFor } from '../providers/pricing.ts';
import { usageError } from './errors.ts';

const SURFACES = [
  'openai.chat',
  'openai.responses',
  'openai.embeddings',
  'openai.models',
  'anthropic.messages',
  'anthropic.count_tokens',
  'gemini.generate',
  'gemini.count_tokens',
  'mcp.tools_list',
  'mcp.tools_call',
] as const satisfies readonly Surface[];

const keyFactsSchema = z.object({
  id: z.string(),
  owner: z.string(),
  team: z.string(),
  teams: z.array(z.string()),
  providers: z.array(z.string()),
  models: z.array(z.string()),
  toolScope: z.string().optional(),
  guardrailChain: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
});

/** The fields every decision input has (see src/policy/decision.ts); extra fields pass through. */
const decisionInputSchema = z.looseObject({
  surface: z.enum(SURFACES),
  provider: z.string(),
  model: z.string(),
  pricedModel: z.string().optional(),
  stream: z.boolean(),
  tools: z.array(z.string()),
  sizes: z.object({
    bodyBytes: z.number().nonnegative(),
    estimatedInputTokens: z.number().nonnegative(),
    maxOutputTokens: z.number().nonnegative(),
  }),
  auth: z.object({
    status: z.enum(['ok', 'missing', 'unknown', 'expired', 'disabled']),
    enforced: z.boolean(),
  }),
  key: keyFactsSchema.nullable(),
  usage: z.object({ budgets: z.array(z.looseObject({})), rateLimits: z.array(z.looseObject({})) }),
  guardrails: z.object({ findings: z.array(z.looseObject({})) }),
});

/** Parses and checks a decision input; every missing or wrong field is named in the error. */
export function parseDecisionInput(text: string, file: string): DecisionInput {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw usageError(`${file} is not JSON: ${(e as Error).message}`);
  }
  const parsed = decisionInputSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues;
    const absent = (path: PropertyKey[]) =>
      path.reduce<unknown>((o, k) => (o as Record<PropertyKey, unknown> | undefined)?.[k], value) ===
      undefined;
    const missing = issues.filter((i) => absent(i.path)).map((i) => i.path.join('.'));
    const wrong = issues
      .filter((i) => !absent(i.path))
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    const fields = [...(missing.length ? [`missing ${missing.join(', ')}`] : []), ...wrong].join('; ');
    throw usageError(
      `${file} is not a decision input: ${fields}`,
      'start from examples/eval-input.json, or let the policy build the input: --key ID --model MODEL',
    );
  }
  return parsed.data as unknown as DecisionInput;
}

const SURFACE_OF_API: Record<ProviderApi, Surface> = {
  openai: 'openai.chat',
  anthropic: 'anthropic.messages',
  gemini: 'gemini.generate',
};

export interface CallDescription {
  key: string;
  model: string;
  surface?: ProviderApi;
  provider?: string;
  tools?: string[];
}

/**
 * The input the gateway would hand the policy for this call, with no usage so far: the key's facts,
 * the provider that serves the model (the key's providers first) and its price entry.
 */
export function decisionInputFor(snapshot: Snapshot, call: CallDescription): DecisionInput {
  const key = snapshot.keys.get(call.key);
  if (!key) {
    const known = [...snapshot.keys.keys()].sort();
    throw usageError(
      `no VirtualKey '${call.key}' in the policy`,
      `keys: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', …' : ''}`,
    );
  }
  const provider = chooseProvider(snapshot, key.providers, call);
  const nowMs = Date.now();
  const authStatus = key.disabled
    ? 'disabled'
    : key.expiresAt !== undefined && key.expiresAt <= nowMs
      ? 'expired'
      : 'ok';
  return {
    surface: SURFACE_OF_API[call.surface ?? provider.api],
    provider: provider.id,
    model: call.model,
    pricedModel: priceFor(provider, call.model)?.id,
    stream: false,
    tools: call.tools ?? [],
    sizes: { bodyBytes: 2000, estimatedInputTokens: 500, maxOutputTokens: 1024 },
    auth: { status: authStatus, enforced: snapshot.gateway.enforceAuthOnInference },
    key: keyFacts(key),
    usage: { budgets: [], rateLimits: [] },
    guardrails: { findings: [] },
  };
}

function chooseProvider(snapshot: Snapshot, preferred: string[], call: CallDescription): ResolvedProvider {
  if (call.provider) {
    const p = snapshot.providers.get(call.provider);
    if (!p)
      throw usageError(
        `no Provider '${call.provider}' in the policy`,
        `providers: ${[...snapshot.providers.keys()].join(', ')}`,
      );
    return p;
  }
  const routed = call.surface ? snapshot.providerFor(call.surface, call.model) : undefined;
  if (routed) return routed;
  const all = [...snapshot.providers.values()];
  const ordered = [
    ...all.filter((p) => preferred.includes(p.id)),
    ...all.filter((p) => !preferred.includes(p.id)),
  ].filter((p) => call.surface === undefined || p.api === call.surface);
  const serving = ordered.find((p) => priceFor(p, call.model) !== undefined);
  if (serving) return serving;
  if (ordered[0]) return ordered[0];
  throw usageError(`no provider in the policy speaks the ${call.surface} API`);
}
