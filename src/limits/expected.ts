// What a call is expected to cost, for budgets in `expected` mode. Any estimate keeps the mode's
// guarantee (spend passes a budget by at most what the calls in flight cost beyond their estimate);
// a closer one lets more of the budget be spent before the first refusal.
//
// Before a key has history on a model: the input at the full input price (one token per four body
// bytes, the policy's estimate) plus the output it asks for, at most PRIOR_OUTPUT_TOKENS. With history:
// a moving average of what that key's calls on that model really cost, with a margin, never above the
// call's worst case.

/** Output assumed for a first call: agents ask for tens of thousands and usually get a few hundred. */
export const PRIOR_OUTPUT_TOKENS = 1_024;
/** Weight of the newest call in the moving average. */
const ALPHA = 0.2;
/** Expected = average × MARGIN: most calls then fit their reservation, and bigger ones are bounded. */
const MARGIN = 1.25;
/** Key-and-model pairs remembered at most; the oldest are forgotten first. */
const MAX_ENTRIES = 50_000;

export interface PriorEstimate {
  /** Input priced at the full input rate, micro-USD per token. */
  inputMicroPerToken: number;
  outputMicroPerToken: number;
  estimatedInputTokens: number;
  maxOutputTokens: number;
}

export class CostEstimator {
  readonly #average = new Map<string, number>();

  /** The expected cost in micro-USD, at most `worstCaseMicroUsd`. */
  expected(key: string, model: string, prior: PriorEstimate, worstCaseMicroUsd: number): number {
    const avg = this.#average.get(`${key}\u0000${model}`);
    const estimate =
      avg === undefined
        ? prior.estimatedInputTokens * prior.inputMicroPerToken +
          Math.min(prior.maxOutputTokens, PRIOR_OUTPUT_TOKENS) * prior.outputMicroPerToken
        : avg * MARGIN;
    return Math.min(worstCaseMicroUsd, Math.ceil(estimate));
  }

  /** Learns from a finished call's actual cost. */
  observe(key: string, model: string, actualMicroUsd: number): void {
    if (!Number.isFinite(actualMicroUsd) || actualMicroUsd < 0) return;
    const id = `${key}\u0000${model}`;
    const avg = this.#average.get(id);
    if (avg === undefined && this.#average.size >= MAX_ENTRIES) {
      const oldest = this.#average.keys().next().value;
      if (oldest !== undefined) this.#average.delete(oldest);
    }
    // Re-inserting keeps the map in least-recently-updated order for the eviction above.
    this.#average.delete(id);
    this.#average.set(id, avg === undefined ? actualMicroUsd : avg + ALPHA * (actualMicroUsd - avg));
  }
}
