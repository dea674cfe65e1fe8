import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type PlanInput, planLimits, usageFacts, withWorstCase } from '../../src/limits/index.ts';
import { MemoryCounters } from '../../src/limits/memory-counters.ts';

const keyHash = `sha256:${'fedcba9876543210'.repeat(4)}`;
const now = new Date('2026-11-24T12:00:00Z');

function plan(over: Partial<PlanInput['key']> = {}, teams: PlanInput['teams'] = []) {
  return planLimits({
    key: { id: 'dana', keyHash, ...over },
    teams,
    worstCase: { costMicroUsd: 0, tokens: 0 },
    now,
  });
}

const noPersistence = { loadTotal: () => 0, loadWindow: () => [], commit() {} };

describe('budgets and rate limits scoped to models and providers', () => {
  const scoped = plan(
    {
      budgets: [
        { period: 'monthly', amountUsd: 100 },
        { name: 'opus', period: 'monthly', amountUsd: 20, models: ['claude-opus-*'] },
        { name: 'bedrock', period: 'monthly', amountUsd: 5, providers: ['bedrock'] },
      ],
      modelRateLimits: [{ name: 'opus-rpm', models: ['claude-opus-*'], requestsPerMinute: 2 }],
    },
    [{ id: 'app-dev', budgets: [{ name: 'gpt', period: 'daily', amountUsd: 3, models: ['gpt-*'] }] }],
  );

  test('a call counts against the budgets whose models and providers match it, and no others', () => {
    const opus = withWorstCase(
      scoped,
      { costMicroUsd: 1_000, tokens: 10, model: 'claude-opus-4-8', provider: 'anthropic' },
      now.getTime(),
    );
    assert.deepEqual(
      opus.facts.map((f) => f.id),
      ['key:dana:monthly', 'key:dana:opus', 'key:dana/opus-rpm:requests_per_minute'],
    );
    const gptOnBedrock = withWorstCase(
      scoped,
      { costMicroUsd: 1_000, tokens: 10, model: 'gpt-5-mini', provider: 'bedrock' },
      now.getTime(),
    );
    assert.deepEqual(
      gptOnBedrock.facts.map((f) => f.id),
      ['key:dana:monthly', 'key:dana:bedrock', 'team:app-dev:gpt'],
    );
    assert.equal(gptOnBedrock.counters.length, gptOnBedrock.facts.length);
  });

  test('a call that names no model (an MCP tool call) counts only the unscoped limits', () => {
    const mcp = withWorstCase(scoped, { costMicroUsd: 0, tokens: 0 }, now.getTime());
    assert.deepEqual(
      mcp.facts.map((f) => f.id),
      ['key:dana:monthly'],
    );
  });

  test('scoped counters have ids of their own, so a model cap never shares spend with the overall budget', () => {
    const ids = scoped.counters.map((c) => c.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.includes('key:dana:fedcba9876543210:opus-rpm:rpm'));
  });

  test('the facts Rego reads name the scope', () => {
    const opus = withWorstCase(
      scoped,
      { costMicroUsd: 1_000, tokens: 10, model: 'claude-opus-4-8', provider: 'anthropic' },
      now.getTime(),
    );
    const result = new MemoryCounters(noPersistence, 60_000).reserve({
      requestId: 'r1',
      counters: opus.counters,
      now,
    });
    const facts = usageFacts(opus, result);
    assert.deepEqual(facts.budgets[1].models, ['claude-opus-*']);
    assert.deepEqual(facts.rateLimits[0].models, ['claude-opus-*']);
    assert.equal(facts.budgets[0].models, undefined);
  });
});

describe('budget modes', () => {
  test('a strict budget reserves the worst case, an expected one the expected cost', () => {
    const p = plan({
      budgets: [
        { name: 'hard', period: 'monthly', amountUsd: 10 },
        { name: 'roomy', period: 'monthly', amountUsd: 10, mode: 'expected' },
      ],
    });
    const call = withWorstCase(
      p,
      { costMicroUsd: 2_000_000, expectedCostMicroUsd: 3_000, tokens: 0, model: 'm' },
      now.getTime(),
    );
    assert.deepEqual(
      call.counters.map((c) => (c.kind === 'concurrency' ? 1 : c.amount)),
      [2_000_000, 3_000],
    );
  });

  test('an expected cost above the worst case is capped at the worst case', () => {
    const p = plan({ budgets: [{ period: 'monthly', amountUsd: 10, mode: 'expected' }] });
    const call = withWorstCase(
      p,
      { costMicroUsd: 500, expectedCostMicroUsd: 9_000, tokens: 0, model: 'm' },
      now.getTime(),
    );
    assert.equal(call.counters[0].kind === 'total' && call.counters[0].amount, 500);
  });

  test('a soft budget never refuses in the store but tells Rego its real limit', () => {
    const p = plan({ budgets: [{ period: 'monthly', amountUsd: 1, enforcement: 'soft' }] });
    const call = withWorstCase(p, { costMicroUsd: 5_000_000, tokens: 0, model: 'm' }, now.getTime());
    const result = new MemoryCounters(noPersistence, 60_000).reserve({
      requestId: 'r2',
      counters: call.counters,
      now,
    });
    assert.equal(result.ok, true);
    const [budget] = usageFacts(call, result).budgets;
    assert.equal(budget.limitUsd, 1);
    assert.equal(budget.enforcement, 'soft');
    assert.ok(budget.usedUsd + budget.requestUsd > budget.limitUsd);
  });
});
