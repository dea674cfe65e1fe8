// Model → price entry, and the cost of a call's tokens in USD.
import type { ModelPrice, ResolvedProvider } from '../policy/snapshot.ts';
import type { TokenUsage } from './types.ts';

/** Anthropic bills 5-minute prompt-cache writes at 1.25× the input price; others report none. */
export const CACHE_WRITE_MULTIPLIER = 1.25;

/**
 * The price entry serving `model`: the exact id, else the longest id that a dated or suffixed model
 * extends (`claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`).
 */
export function priceFor(provider: ResolvedProvider, model: string): ModelPrice | undefined {
  const exact = provider.models.get(model);
  if (exact !== undefined || model === '') return exact;
  let best: ModelPrice | undefined;
  for (const [id, price] of provider.models) {
    if (model.length > id.length && model.startsWith(id) && model.charCodeAt(id.length) === 45) {
      if (best === undefined || id.length > best.id.length) best = price;
    }
  }
  return best;
}

export function costUsd(price: ModelPrice | undefined, u: TokenUsage): number {
  if (price === undefined) return 0;
  const micro =
    u.inputTokens * price.inputPerMTok +
    u.cachedInputTokens * price.cachedInputPerMTok +
    u.cacheWriteTokens * price.inputPerMTok * CACHE_WRITE_MULTIPLIER +
    u.outputTokens * price.outputPerMTok;
  return micro / 1_000_000;
}
