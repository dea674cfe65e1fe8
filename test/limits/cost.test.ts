import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { microToUsd, totalTokens, usdToMicro, worstCaseCostMicroUsd } from '../../src/limits/index.ts';
import type { ModelPrice } from '../../src/policy/snapshot.ts';
import { costUsd } from '../../src/providers/pricing.ts';

/** The settled cost of a call: the one cost function, in integer micro-USD as the store keeps it. */
const settledMicro = (price: ModelPrice, usage: Partial<Parameters<typeof costUsd>[1]>) =>
  usdToMicro(
    costUsd(price, {
      inputTokens: 0,
      cachedInputTokens: 0,
      cacheWriteTokens: 0,
      cacheWriteLongTokens: 0,
      outputTokens: 0,
      ...usage,
    }),
  );

describe('money and cost', () => {
  const price: ModelPrice = {
    id: 'm',
    inputPerMTok: 3,
    outputPerMTok: 15,
    cachedInputPerMTok: 0.3,
    cacheWrite5mPerMTok: 3.75,
    cacheWrite1hPerMTok: 6,
    maxOutputTokens: 1,
  };

  test('USD and micro-USD convert without drift', () => {
    assert.equal(usdToMicro(0.1) + usdToMicro(0.2), usdToMicro(0.3));
    assert.equal(usdToMicro(100), 100_000_000);
    assert.equal(microToUsd(1_500_000), 1.5);
    assert.throws(() => usdToMicro(Number.NaN), RangeError);
  });

  test('worst case prices every estimated input token and every allowed output token', () => {
    // 10k input at $3/M = $0.03, 4k output at $15/M = $0.06.
    assert.equal(
      worstCaseCostMicroUsd(price, { estimatedInputTokens: 10_000, maxOutputTokens: 4_000 }),
      90_000,
    );
  });

  test('worst case covers input that may be written to a prompt cache at a higher price', () => {
    // 10k input at $3/M × 2 (1-hour cache write) = $0.06, 4k output at $15/M = $0.06.
    assert.equal(
      worstCaseCostMicroUsd(price, {
        estimatedInputTokens: 10_000,
        maxOutputTokens: 4_000,
        inputPriceFactor: 2,
      }),
      120_000,
    );
  });

  test('worst case rounds up so a reservation never undershoots', () => {
    const cheap = { inputPerMTok: 0.075, outputPerMTok: 0.3 };
    assert.equal(worstCaseCostMicroUsd(cheap, { estimatedInputTokens: 1, maxOutputTokens: 0 }), 1);
    assert.equal(worstCaseCostMicroUsd(cheap, { estimatedInputTokens: 1_000, maxOutputTokens: 0 }), 75);
  });

  test('actual cost prices cached input at the cached rate', () => {
    const usage = { inputTokens: 2_000, cachedInputTokens: 8_000, outputTokens: 1_000 };
    // 2000×3 + 8000×0.3 + 1000×15 micro-USD.
    assert.equal(settledMicro(price, usage), 6_000 + 2_400 + 15_000);
    assert.equal(totalTokens(usage), 11_000);
  });

  test('cache writes cost more than input and count as tokens', () => {
    // 1000 writes at 3 × 1.25 micro-USD each.
    assert.equal(settledMicro(price, { cacheWriteTokens: 1_000 }), 3_750);
    assert.equal(totalTokens({ inputTokens: 1, cacheWriteTokens: 1_000, outputTokens: 2 }), 1_003);
  });

  test('sums of many small settled costs are exact', () => {
    const tiny = {
      id: 't',
      inputPerMTok: 0.1,
      outputPerMTok: 0.2,
      cachedInputPerMTok: 0.1,
      cacheWrite5mPerMTok: 0.125,
      cacheWrite1hPerMTok: 0.2,
      maxOutputTokens: 1,
    };
    let total = 0;
    for (let i = 0; i < 10_000; i++) total += settledMicro(tiny, { inputTokens: 10, outputTokens: 10 });
    assert.equal(total, 30_000);
  });

  test('a negative price is refused', () => {
    assert.throws(
      () =>
        worstCaseCostMicroUsd(
          { inputPerMTok: -1, outputPerMTok: 1 },
          { estimatedInputTokens: 1, maxOutputTokens: 1 },
        ),
      RangeError,
    );
  });
});
