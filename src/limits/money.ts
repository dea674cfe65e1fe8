// Money inside the limits code is integer micro-USD (1 USD = 1_000_000): sums of integers never drift.
// Convert only at the edges: policy amounts in, Rego facts out.

export const MICRO_USD_PER_USD = 1_000_000;

/** USD (as written in policy) to integer micro-USD, rounded to the nearest micro-dollar. */
export function usdToMicro(usd: number): number {
  if (!Number.isFinite(usd)) throw new RangeError(`not a finite USD amount: ${usd}`);
  return Math.round(usd * MICRO_USD_PER_USD);
}

/** Integer micro-USD to USD for reporting (a double; exact for any realistic amount). */
export function microToUsd(micro: number): number {
  return micro / MICRO_USD_PER_USD;
}
