// The worst case a call may cost, reserved before it is sent. A price of P USD per million tokens is
// exactly P micro-USD per token; prices are turned into integer pico-USD per token (P × 10^6) so every
// product and sum is integer arithmetic, then rounded once to micro-USD. What a finished call cost is
// `costUsd` in src/providers/pricing.ts, the one cost function (it bills prompt-cache writes); the
// gateway settles `usdToMicro` of it.
import { MICRO_USD_PER_USD } from './money.ts';

/** Prices as the Provider kind declares them, in USD per million tokens. */
export interface ModelPrice {
  inputPerMTok: number;
  outputPerMTok: number;
}

/** Token counts of a finished call, as the provider adapter normalised them. */
export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens?: number;
  cacheWriteTokens?: number;
}

function picoPerToken(usdPerMTok: number, field: string): number {
  if (!Number.isFinite(usdPerMTok) || usdPerMTok < 0) throw new RangeError(`${field} must be a price ≥ 0`);
  return Math.round(usdPerMTok * MICRO_USD_PER_USD);
}

function tokenCount(n: number | undefined): number {
  return n === undefined || !Number.isFinite(n) || n < 0 ? 0 : Math.ceil(n);
}

/**
 * The most a call can cost before it is sent: every estimated input token at the full input price
 * (no cache hit assumed) — times `inputPriceFactor` when input may cost more than that (a prompt-cache
 * write) — plus every allowed output token. Rounded up: a reservation never undershoots.
 */
export function worstCaseCostMicroUsd(
  price: ModelPrice,
  call: { estimatedInputTokens: number; maxOutputTokens: number; inputPriceFactor?: number },
): number {
  const factor = call.inputPriceFactor ?? 1;
  const pico =
    tokenCount(call.estimatedInputTokens) * picoPerToken(price.inputPerMTok * factor, 'inputPerMTok') +
    tokenCount(call.maxOutputTokens) * picoPerToken(price.outputPerMTok, 'outputPerMTok');
  return Math.ceil(pico / MICRO_USD_PER_USD);
}

/** Tokens a call counts against a tokens-per-hour limit: all input (cached, cache writes) plus output. */
export function totalTokens(usage: TokenCounts): number {
  return (
    tokenCount(usage.inputTokens) +
    tokenCount(usage.cachedInputTokens) +
    tokenCount(usage.cacheWriteTokens) +
    tokenCount(usage.outputTokens)
  );
}
