// The limits plugin on its own, over a real SQLite counter store: what it returns to the pipeline
// (usage facts, a reservation, headers, refusals) and how its reservations settle.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { LIMITS_UNAVAILABLE } from '../../../src/gateway/errors.ts';
import { BUDGET_REMAINING_HEADER, createLimitsPlugin } from '../../../src/gateway/plugins/limits.ts';
import { usageOf } from '../../../src/gateway/usage.ts';
import { type CounterStore, openCounterStore } from '../../../src/limits/index.ts';
import type { ResolvedKey } from '../../../src/policy/snapshot.ts';
import { fakeSnapshot } from '../fake-snapshot.ts';
import { testCall } from './call-fixture.ts';

const logged: string[] = [];
const logger = {
  warn: (_o: object, m: string) => logged.push(m),
  error: (_o: object, m: string) => logged.push(m),
};

const dirs: string[] = [];
function sqliteStore(): CounterStore {
  const dir = mkdtempSync(join(tmpdir(), 'pc-limits-plugin-'));
  dirs.push(dir);
  return openCounterStore({ store: 'sqlite', dataDir: dir, registry: new Registry() });
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The fake snapshot with its `good` key given a monthly budget of `usd`. */
function withBudget(usd: number, failMode: 'open' | 'closed' = 'closed') {
  const snapshot = fakeSnapshot({ upstream: 'http://127.0.0.1:9', gateway: { failMode } });
  const good = snapshot.keys.get('good')!;
  const key: ResolvedKey = { ...good, budgets: [{ amountUsd: usd, period: 'monthly' }] };
  (snapshot.keys as Map<string, ResolvedKey>).set('good', key);
  return { snapshot, key };
}

/** 100 output tokens of claude-sonnet-4-5 at 15 USD/MTok, plus the body's bytes of input at 3 USD/MTok. */
const body = { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] };

describe('limits plugin', () => {
  test('reserves the worst case: usage facts for the policy, a reservation, remaining-budget headers', async () => {
    const store = sqliteStore();
    const plugin = createLimitsPlugin({ store: () => store, logger, registry: new Registry() });
    const { snapshot, key } = withBudget(10);
    const call = testCall({ snapshot, key, body });
    const r = await plugin.reserve(call);
    assert.ok(r !== undefined);
    assert.equal(r.refusal, undefined);
    assert.ok(r.reservation !== undefined);
    const budget = r.usage?.budgets[0];
    assert.equal(budget?.limitUsd, 10);
    assert.equal(budget?.usedUsd, 0);
    assert.ok(budget !== undefined && budget.requestUsd > 0.0015 && budget.requestUsd < 0.002);
    assert.ok(Number(r.headers?.[BUDGET_REMAINING_HEADER]) < 10);

    // Nothing forwarded: the reservation is released and the budget is whole again.
    await r.reservation.settle(call);
    const again = await plugin.reserve(testCall({ snapshot, key, body }));
    assert.equal(again?.usage?.budgets[0].usedUsd, 0);
    await store.close();
  });

  test("at a budget's tail an OpenAI call is admitted on its real token count (tokenizer loaded on first use)", async () => {
    const store = sqliteStore();
    const plugin = createLimitsPlugin({ store: () => store, logger, registry: new Registry() });
    // 20 KB of prose to gpt-5: a byte per token would cost ~$0.026, its ~4,500 real tokens ~$0.007.
    const { snapshot, key } = withBudget(0.01);
    const prose = 'Summarise the failing test and propose a fix for the race in the settle path. '.repeat(
      260,
    );
    const big = { model: 'gpt-5', max_completion_tokens: 100, messages: [{ role: 'user', content: prose }] };
    const call = testCall({ snapshot, key, body: big, surface: 'openai.chat', api: 'openai' });
    const r = await plugin.reserve(call);
    assert.equal(r?.refusal, undefined, 'admitted on the token count');
    const requested = r?.usage?.budgets[0].requestUsd ?? 1;
    assert.ok(requested > 0.004 && requested < 0.01, `reserved ${requested}`);
    await r?.reservation?.settle(call);
    await store.close();
  });

  test('settles to what the call used, priced by the one cost function', async () => {
    const store = sqliteStore();
    const plugin = createLimitsPlugin({ store: () => store, logger, registry: new Registry() });
    const { snapshot, key } = withBudget(10);
    const call = testCall({ snapshot, key, body });
    const r = await plugin.reserve(call);
    call.status = 200;
    call.upstreamJson = { usage: { input_tokens: 1000, output_tokens: 1000 } };
    call.usage = usageOf(call);
    assert.equal(call.usage.costUsd, 0.018);
    await r!.reservation!.settle(call);
    const next = await plugin.reserve(testCall({ snapshot, key, body }));
    assert.equal(next?.usage?.budgets[0].usedUsd, 0.018);
    await store.close();
  });

  test('no room: a refusal the policy words, with the strict denial to fall back on', async () => {
    const store = sqliteStore();
    const plugin = createLimitsPlugin({ store: () => store, logger, registry: new Registry() });
    const { snapshot, key } = withBudget(0.000001);
    const r = await plugin.reserve(testCall({ snapshot, key, body }));
    assert.equal(r?.refusal?.policyWords, true);
    assert.equal(r?.refusal?.decision.status, 402);
    assert.equal(r?.refusal?.decision.code, 'budget_exceeded');
    assert.match(r?.refusal?.decision.reasons[0] ?? '', /monthly budget of key good \(0\.000001 USD\)/);
    await store.close();
  });

  test('a store that fails refuses the call with failMode closed, lets it through with open', async () => {
    const broken = sqliteStore();
    await broken.close();
    const plugin = createLimitsPlugin({ store: () => broken, logger, registry: new Registry() });
    const closed = withBudget(10, 'closed');
    const refused = await plugin.reserve(testCall({ snapshot: closed.snapshot, key: closed.key, body }));
    assert.equal(refused?.refusal?.decision, LIMITS_UNAVAILABLE);
    assert.notEqual(refused?.refusal?.policyWords, true, 'the policy is not asked');
    const open = withBudget(10, 'open');
    assert.equal(await plugin.reserve(testCall({ snapshot: open.snapshot, key: open.key, body })), undefined);
    assert.ok(logged.some((m) => m.includes('failMode open')));
  });

  test('keys without limits and model listings reserve nothing', async () => {
    const store = sqliteStore();
    const plugin = createLimitsPlugin({ store: () => store, logger, registry: new Registry() });
    const snapshot = fakeSnapshot({ upstream: 'http://127.0.0.1:9' });
    assert.equal(await plugin.reserve(testCall({ snapshot, body })), undefined);
    const { snapshot: s2, key } = withBudget(10);
    const listing = testCall({
      snapshot: s2,
      key,
      surface: 'openai.models',
      api: 'openai',
      body: { model: '' },
    });
    assert.equal(await plugin.reserve(listing), undefined);
    await store.close();
  });

  test('drained(store) waits for that store’s reservations only', async () => {
    const store = sqliteStore();
    const plugin = createLimitsPlugin({ store: () => store, logger, registry: new Registry() });
    const { snapshot, key } = withBudget(10);
    const call = testCall({ snapshot, key, body });
    const r = await plugin.reserve(call);
    let drained = false;
    const waiting = plugin.drained(store).then(() => {
      drained = true;
    });
    await new Promise((res) => setImmediate(res));
    assert.equal(drained, false);
    await r!.reservation!.settle(call);
    await waiting;
    assert.equal(drained, true);
    await plugin.drained(sqliteStore());
    await store.close();
  });
});
