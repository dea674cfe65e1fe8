// Checks each Provider's model prices against a maintained price list: Pydantic's genai-prices, whose
// npm package ships its data (no network needed), covers first parties and the clouds (Bedrock, Vertex,
// Azure) and is updated as providers change prices. A model it does not know is reported unpriced; a
// price that differs from it, stale.
import { calcPrice } from '@pydantic/genai-prices';
import type { ResolvedProvider } from '../../policy/snapshot.ts';

export interface PriceFinding {
  provider: string;
  model: string;
  status: 'ok' | 'stale' | 'unpriced' | 'deprecated';
  /** What the list says, USD per million tokens. */
  listed?: { input: number; output: number; cachedInput?: number };
  /** The policy's, USD per million tokens. */
  policy: { input: number; output: number; cachedInput: number };
  /** The list's model id and provider that matched. */
  match?: string;
  detail?: string;
}

/** The price list's provider for a policy Provider: its cloud, else its wire format's first party. */
export function listProvider(p: ResolvedProvider): string {
  if (p.cloud?.bedrock !== undefined) return 'aws';
  if (p.cloud?.azure !== undefined) return 'azure';
  if (p.cloud?.vertex !== undefined) return 'google';
  return p.api === 'gemini' ? 'google' : p.api;
}

const SAMPLE = 1000;

/** USD per million tokens of one kind, priced below any long-context tier. */
function perMTok(
  providerId: string,
  model: string,
  usage: Record<string, number>,
  key: 'input_price' | 'output_price',
) {
  const r = calcPrice(usage as never, model, { providerId });
  return r === null ? null : { value: (r[key] * 1_000_000) / SAMPLE, result: r };
}

function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= Math.max(1e-9, Math.abs(b) * 0.005);
}

export function checkProviderPrices(providers: Iterable<ResolvedProvider>): PriceFinding[] {
  const out: PriceFinding[] = [];
  for (const p of providers) {
    const providerId = listProvider(p);
    for (const m of p.models.values()) {
      const policy = { input: m.inputPerMTok, output: m.outputPerMTok, cachedInput: m.cachedInputPerMTok };
      const input = perMTok(providerId, m.id, { input_tokens: SAMPLE }, 'input_price');
      if (input === null || input.result.provider.id !== providerId) {
        out.push({
          provider: p.id,
          model: m.id,
          status: 'unpriced',
          policy,
          detail: `not in the ${providerId} price list`,
        });
        continue;
      }
      const output = perMTok(providerId, m.id, { output_tokens: SAMPLE }, 'output_price');
      const cached = perMTok(
        providerId,
        m.id,
        { input_tokens: SAMPLE, cache_read_tokens: SAMPLE },
        'input_price',
      );
      const listed = { input: input.value, output: output?.value ?? 0, cachedInput: cached?.value };
      const info = input.result.model;
      const diffs: string[] = [];
      if (!close(policy.input, listed.input)) diffs.push(`input ${policy.input} (list ${listed.input})`);
      if (!close(policy.output, listed.output)) diffs.push(`output ${policy.output} (list ${listed.output})`);
      if (
        listed.cachedInput !== undefined &&
        listed.cachedInput !== listed.input &&
        !close(policy.cachedInput, listed.cachedInput)
      )
        diffs.push(`cached input ${policy.cachedInput} (list ${listed.cachedInput})`);
      out.push({
        provider: p.id,
        model: m.id,
        status: info.deprecated === true ? 'deprecated' : diffs.length > 0 ? 'stale' : 'ok',
        listed,
        policy,
        match: `${input.result.provider.id}/${info.id}`,
        detail:
          info.deprecated === true ? 'the list marks this model deprecated' : diffs.join('; ') || undefined,
      });
    }
  }
  return out;
}
