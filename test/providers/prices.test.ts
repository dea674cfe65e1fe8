// `prices check`: the example policy's prices against the maintained list (genai-prices, shipped offline).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ResolvedProvider } from '../../src/policy/snapshot.ts';
import { checkProviderPrices, listProvider } from '../../src/providers/prices/check.ts';
import { buildSnapshotNoCompile } from '../../src/providers/prices/load.ts';

const providers = buildSnapshotNoCompile('policies');
const byId = (id: string) => providers.find((p) => p.id === id)!;

function withModel(p: ResolvedProvider, id: string, input: number, output: number): ResolvedProvider {
  return {
    ...p,
    models: new Map([
      [
        id,
        {
          id,
          inputPerMTok: input,
          outputPerMTok: output,
          cachedInputPerMTok: input / 10,
          cacheWrite5mPerMTok: input * 1.25,
          cacheWrite1hPerMTok: input * 2,
          maxOutputTokens: 1000,
        },
      ],
    ]),
  };
}

describe('prices check', () => {
  test('first-party and cloud prices that match the list are ok, each checked against its own seller', () => {
    const findings = checkProviderPrices(providers);
    const get = (p: string, m: string) => findings.find((f) => f.provider === p && f.model === m)!;
    assert.equal(get('anthropic', 'claude-sonnet-4-5').status, 'ok');
    assert.equal(get('bedrock', 'us.anthropic.claude-sonnet-4-5-20250929-v1:0').status, 'ok');
    assert.match(get('bedrock', 'us.anthropic.claude-sonnet-4-5-20250929-v1:0').match ?? '', /^aws\//);
    assert.equal(listProvider(byId('vertex')), 'google');
  });

  test('a price that differs from the list is stale, naming both numbers', () => {
    const [f] = checkProviderPrices([withModel(byId('anthropic'), 'claude-sonnet-4-5', 2, 15)]);
    assert.equal(f.status, 'stale');
    assert.match(f.detail ?? '', /input 2 \(list 3\)/);
  });

  test('a model the list does not know is unpriced', () => {
    const [f] = checkProviderPrices([withModel(byId('openai'), 'gpt-99-imaginary', 1, 1)]);
    assert.equal(f.status, 'unpriced');
  });
});
