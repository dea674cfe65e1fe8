import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { DecisionBatcher } from '../../src/gateway/decision-batch.ts';
import { buildSnapshot } from '../../src/policy/build-snapshot.ts';
import type { DecisionInput } from '../../src/policy/decision.ts';
import { keyFacts } from '../../src/policy/key-facts.ts';
import type { Snapshot } from '../../src/policy/snapshot.ts';
import { examplePolicyCopy, TEST_KEYS } from '../fixtures/keys.ts';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function input(snapshot: Snapshot, keyPlain: string, model: string): DecisionInput {
  const key = snapshot.keysByHash.get(sha256(keyPlain))!;
  return {
    surface: 'anthropic.messages',
    provider: 'anthropic',
    model,
    pricedModel: model,
    stream: false,
    tools: [],
    sizes: { bodyBytes: 200, estimatedInputTokens: 50, maxOutputTokens: 64 },
    auth: { status: 'ok', enforced: true },
    key: keyFacts(key),
    usage: { budgets: [], rateLimits: [] },
    guardrails: { findings: [] },
  };
}

describe('decisions batched per event-loop turn', async () => {
  const snapshot = await buildSnapshot({ dir: examplePolicyCopy().dir });

  test('each call of a turn gets the decision for its own input', async () => {
    const batcher = new DecisionBatcher();
    const inputs = [
      input(snapshot, TEST_KEYS.member, 'claude-haiku-4-5'),
      input(snapshot, TEST_KEYS.member, 'claude-opus-4-5'),
      input(snapshot, TEST_KEYS.principal, 'claude-opus-4-5'),
      input(snapshot, TEST_KEYS.member, 'claude-haiku-4-5'),
    ];
    const decisions = await Promise.all(inputs.map((i) => batcher.decide(snapshot, i)));
    assert.deepEqual(
      decisions.map((d) => [d.allow, d.code]),
      [
        [true, 'ok'],
        [false, 'model_not_allowed'],
        [true, 'ok'],
        [true, 'ok'],
      ],
    );
    for (const [i, d] of decisions.entries()) assert.deepEqual(d, snapshot.evaluate(inputs[i]));
  });

  test('a policy that fails for one call fails only that call', async () => {
    const batcher = new DecisionBatcher();
    const failing: Snapshot = {
      ...snapshot,
      evaluate: (i: DecisionInput) => {
        if (i.model === 'broken') throw new Error('policy bug');
        return snapshot.evaluate(i);
      },
    };
    const ok = batcher.decide(failing, input(snapshot, TEST_KEYS.member, 'claude-haiku-4-5'));
    const bad = batcher.decide(failing, input(snapshot, TEST_KEYS.member, 'broken'));
    const denied = batcher.decide(failing, input(snapshot, TEST_KEYS.member, 'claude-opus-4-5'));
    assert.equal((await ok).allow, true);
    await assert.rejects(bad, /policy bug/);
    assert.equal((await denied).code, 'model_not_allowed');
  });
});
