import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  budgetPolicyProblems,
  type CounterSpec,
  type PlanInput,
  planLimits,
  type ReserveResult,
  usageFacts,
  withWorstCase,
} from '../../src/limits/index.ts';

const keyHash = `sha256:${'0123456789abcdef'.repeat(4)}`;
const input = (over: Partial<PlanInput> = {}): PlanInput => ({
  key: {
    id: 'alice-laptop',
    keyHash,
    budgets: [{ period: 'monthly', amountUsd: 50 }],
    rateLimits: { requestsPerMinute: 60, tokensPerHour: 200_000, maxInFlight: 4 },
  },
  teams: [
    { id: 'platform', budgets: [{ period: 'monthly', amountUsd: 100, timezone: 'America/New_York' }] },
    {
      id: 'acme',
      budgets: [{ name: 'annual', period: 'yearly', amountUsd: 10_000 }],
      rateLimits: { maxInFlight: 100 },
    },
  ],
  budgetTimezone: 'Europe/Berlin',
  worstCase: { costMicroUsd: 120_000, tokens: 12_000 },
  now: new Date('2026-11-24T12:00:00Z'),
  ...over,
});

/** A store answer in which every counter has `used` of its limit taken. */
function answer(counters: CounterSpec[], used: (c: CounterSpec) => number, freesAt?: number): ReserveResult {
  return {
    ok: false,
    reservationId: null,
    counters: counters.map((c) => ({
      id: c.id,
      used: used(c),
      limit: c.limit,
      amount: c.kind === 'concurrency' ? 1 : c.amount,
      fits: false,
      ...(c.kind === 'window' && freesAt !== undefined ? { freesAt } : {}),
    })),
  };
}

describe('limit planner', () => {
  test('every budget and rate limit of the key and of each team up the tree is planned', () => {
    const plan = planLimits(input());
    assert.deepEqual(
      plan.counters.map((c) => [c.id, c.kind, c.limit, c.kind === 'concurrency' ? 1 : c.amount]),
      [
        ['key:alice-laptop:0123456789abcdef:budget:monthly:monthly:2026-11', 'total', 50_000_000, 120_000],
        ['key:alice-laptop:0123456789abcdef:rpm', 'window', 60, 1],
        ['key:alice-laptop:0123456789abcdef:tph', 'window', 200_000, 12_000],
        ['key:alice-laptop:0123456789abcdef:inflight', 'concurrency', 4, 1],
        ['team:platform:budget:monthly:monthly:2026-11', 'total', 100_000_000, 120_000],
        ['team:acme:budget:annual:yearly:2026', 'total', 10_000_000_000, 120_000],
        ['team:acme:inflight', 'concurrency', 100, 1],
      ],
    );
  });

  test('budget counter ids ignore the amount, so a changed budget keeps its spend', () => {
    const before = planLimits(input());
    const raised = input();
    raised.key.budgets = [{ period: 'monthly', amountUsd: 500 }];
    assert.equal(planLimits(raised).counters[0].id, before.counters[0].id);
  });

  test('a new key secret (new hash) gets new key counters but the same team counters', () => {
    const a = planLimits(input());
    const b = input();
    b.key.keyHash = `sha256:${'f'.repeat(64)}`;
    const planB = planLimits(b);
    assert.notEqual(planB.counters[0].id, a.counters[0].id);
    assert.equal(planB.counters[4].id, a.counters[4].id);
  });

  test('usage facts are in USD with the reset time in the budget’s zone', () => {
    const plan = planLimits(input());
    const facts = usageFacts(
      plan,
      answer(plan.counters, (c) => c.limit),
    );
    assert.deepEqual(facts.budgets[1], {
      id: 'team:platform:monthly',
      scope: 'team',
      owner: 'platform',
      period: 'monthly',
      limitUsd: 100,
      usedUsd: 100,
      requestUsd: 0.12,
      resetsAt: '2026-12-01T00:00:00-05:00',
      resetsInSeconds: 6 * 86_400 + 17 * 3_600,
    });
    assert.equal(facts.budgets[0].resetsAt, '2026-12-01T00:00:00+01:00', 'gateway zone by default');
    assert.equal(facts.budgets[2].resetsAt, '2027-01-01T00:00:00+01:00');
    assert.equal(facts.budgets[0].id, 'key:alice-laptop:monthly');
  });

  test('rate-limit facts say when the oldest usage leaves the window', () => {
    const plan = planLimits(input());
    const freesAt = Date.parse('2026-11-24T12:00:30Z');
    const facts = usageFacts(
      plan,
      answer(plan.counters, (c) => c.limit, freesAt),
    );
    assert.deepEqual(facts.rateLimits[0], {
      id: 'key:alice-laptop:requests_per_minute',
      scope: 'key',
      owner: 'alice-laptop',
      kind: 'requests_per_minute',
      limit: 60,
      used: 60,
      request: 1,
      resetsAt: '2026-11-24T13:00:30+01:00',
      resetsInSeconds: 30,
    });
    assert.deepEqual(
      facts.rateLimits.map((r) => [r.id, r.request, r.resetsAt === undefined]),
      [
        ['key:alice-laptop:requests_per_minute', 1, false],
        ['key:alice-laptop:tokens_per_hour', 12_000, false],
        ['key:alice-laptop:requests_in_flight', 1, true],
        ['team:acme:requests_in_flight', 1, true],
      ],
    );
  });

  test('a total budget has no reset and its counter never expires', () => {
    const plan = planLimits(
      input({ teams: [], key: { id: 'k', keyHash, budgets: [{ period: 'total', amountUsd: 5 }] } }),
    );
    const [counter] = plan.counters;
    assert.equal(counter.kind === 'total' && counter.expiresAt, undefined);
    const facts = usageFacts(
      plan,
      answer(plan.counters, () => 0),
    );
    assert.equal(facts.budgets[0].resetsAt, undefined);
  });

  test('a plan serves later calls of the same key until the first of its periods turns', () => {
    const plan = planLimits(input());
    // From the latest start (November in New York) to the earliest reset (December in Berlin).
    assert.equal(plan.validFromMs, Date.parse('2026-11-01T04:00:00Z'));
    assert.equal(plan.validUntilMs, Date.parse('2026-11-30T23:00:00Z'));
    const later = new Date('2026-11-28T08:00:00Z');
    const worst = { costMicroUsd: 7_000.4, tokens: 900 };
    const reused = withWorstCase(plan, worst, later.getTime());
    const fresh = planLimits(input({ now: later, worstCase: worst }));
    assert.deepEqual(reused.counters, fresh.counters);
    assert.deepEqual(reused.facts, fresh.facts);
    assert.equal(reused.nowMs, later.getTime());
    assert.equal(
      plan.counters[0].kind === 'total' && plan.counters[0].amount,
      120_000,
      'the original is untouched',
    );
    const next = planLimits(input({ now: new Date(plan.validUntilMs) }));
    assert.notEqual(next.counters[0].id, plan.counters[0].id, 'December has its own counter');
  });

  test('a plan without periodic budgets never expires', () => {
    const plan = planLimits(
      input({ teams: [], key: { id: 'k', keyHash, budgets: [{ period: 'total', amountUsd: 5 }] } }),
    );
    assert.equal(plan.validFromMs, Number.NEGATIVE_INFINITY);
    assert.equal(plan.validUntilMs, Number.POSITIVE_INFINITY);
  });

  test('a result from another plan is refused', () => {
    const plan = planLimits(input());
    assert.throws(() => usageFacts(plan, { ok: true, reservationId: 'x', counters: [] }), TypeError);
  });

  test('budget problems the policy loader should report', () => {
    assert.deepEqual(
      budgetPolicyProblems([
        { period: 'monthly', amountUsd: 1 },
        { period: 'monthly', amountUsd: 2 },
        { name: 'cap', period: 'daily', amountUsd: 1, timezone: 'Nowhere/City' },
        { name: 'cap', period: 'weekly', amountUsd: 1 },
      ]),
      [
        'two unnamed monthly budgets: name them to tell their counters apart',
        'unknown time zone "Nowhere/City" (use an IANA name such as Europe/Berlin)',
        'two budgets are named "cap"',
      ],
    );
    assert.deepEqual(budgetPolicyProblems([{ period: 'daily', amountUsd: 1, timezone: 'Asia/Tokyo' }]), []);
  });

  test('duplicate budgets still get distinct counters at run time', () => {
    const plan = planLimits(
      input({
        teams: [],
        key: {
          id: 'k',
          keyHash,
          budgets: [
            { period: 'daily', amountUsd: 1 },
            { period: 'daily', amountUsd: 2 },
          ],
        },
      }),
    );
    assert.notEqual(plan.counters[0].id, plan.counters[1].id);
  });
});
