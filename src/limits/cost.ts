// Cost of a model call from per-million-token prices. A price of P USD per million tokens is exactly
// P micro-USD per token; prices are turned into integer pico-USD per token (P × 10^6) so every
// product and sum is integer arithmetic, then rounded once to micro-USD.
import { MICRO_USD_PER_USD } from './money.ts';

/** Prices as the Provider kind declares them, in USD per million tokens. */
export interface ModelPrice {
  inputPerMTok: number;
  outputPerMTok: number;
  /** Price of input tokens served from the provider's prompt cache; the input price when absent. */
  cachedInputPerMTok?: number;
}

/**
 * Token counts of a finished call, normalised by the provider adapter: `inputTokens` are the input
 * tokens billed at the full input price (OpenAI's prompt_tokens minus cached_tokens; Anthropic's
 * input_tokens plus cache-creation tokens, which are charged here at the plain input price until the
 * Provider kind prices cache writes), `cachedInputTokens` those billed at the cached price.
 */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens?: number;
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

/** What a finished call cost, rounded to the nearest micro-dollar. */
export function actualCostMicroUsd(price: ModelPrice, usage: TokenUsage): number {
  const cachedPrice = price.cachedInputPerMTok ?? price.inputPerMTok;
  const pico =
    tokenCount(usage.inputTokens) * picoPerToken(price.inputPerMTok, 'inputPerMTok') +
    tokenCount(usage.cachedInputTokens) * picoPerToken(cachedPrice, 'cachedInputPerMTok') +
    tokenCount(usage.outputTokens) * picoPerToken(price.outputPerMTok, 'outputPerMTok');
  return Math.round(pico / MICRO_USD_PER_USD);
}

/** Tokens a call counts against a tokens-per-hour limit: all input (cached or not) plus output. */
export function totalTokens(usage: TokenUsage): number {
  return tokenCount(usage.inputTokens) + tokenCount(usage.cachedInputTokens) + tokenCount(usage.outputTokens);
}
