import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CostEstimator, PRIOR_OUTPUT_TOKENS } from '../../src/limits/expected.ts';

const prior = {
  inputMicroPerToken: 3,
  outputMicroPerToken: 15,
  estimatedInputTokens: 10_000,
  maxOutputTokens: 32_000,
};

test('a first call is expected to cost its input plus a modest answer, never more than its worst case', () => {
  const e = new CostEstimator();
  assert.equal(e.expected('k', 'm', prior, 10_000_000), 30_000 + PRIOR_OUTPUT_TOKENS * 15);
  assert.equal(e.expected('k', 'm', prior, 40_000), 40_000);
  assert.equal(e.expected('k', 'm', { ...prior, maxOutputTokens: 100 }, 10_000_000), 30_000 + 1_500);
});

test('later calls are expected to cost what that key’s calls on that model really cost, with a margin', () => {
  const e = new CostEstimator();
  for (let i = 0; i < 30; i++) e.observe('k', 'm', 8_000);
  assert.equal(e.expected('k', 'm', prior, 10_000_000), 10_000);
  assert.equal(e.expected('other', 'm', prior, 10_000_000), 30_000 + PRIOR_OUTPUT_TOKENS * 15, 'per key');
  e.observe('k', 'm', 108_000);
  assert.equal(e.expected('k', 'm', prior, 10_000_000), Math.ceil((8_000 + 0.2 * 100_000) * 1.25));
});
