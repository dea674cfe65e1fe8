// Model → price entry, and the cost of a call's tokens in USD.
import { pricedModelId } from '../policy/models.ts';
import type { ModelPrice, ResolvedProvider } from '../policy/snapshot.ts';
import type { TokenUsage } from './types.ts';

/** Anthropic bills 5-minute prompt-cache writes at 1.25× the input price; others report none. */
export const CACHE_WRITE_MULTIPLIER = 1.25;
/** Anthropic bills 1-hour prompt-cache writes at 2× the input price. */
export const CACHE_WRITE_LONG_MULTIPLIER = 2;

/**
 * The price entry serving `model`: the exact id, else the longest id that a dated or suffixed model
 * extends (`claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`).
 */
export function priceFor(provider: ResolvedProvider, model: string): ModelPrice | undefined {
  const id = pricedModelId(provider.models, model);
  return id === undefined ? undefined : provider.models.get(id);
}

export function costUsd(price: ModelPrice | undefined, u: TokenUsage): number {
  if (price === undefined) return 0;
  const micro =
    u.inputTokens * price.inputPerMTok +
    u.cachedInputTokens * price.cachedInputPerMTok +
    (u.cacheWriteTokens - u.cacheWriteLongTokens) * price.cacheWrite5mPerMTok +
    u.cacheWriteLongTokens * price.cacheWrite1hPerMTok +
    u.outputTokens * price.outputPerMTok;
  return micro / 1_000_000;
}
