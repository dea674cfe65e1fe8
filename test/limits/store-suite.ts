// The behaviour every counter store must have; run once per implementation.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  type BudgetPolicy,
  type ConcurrencyCounterSpec,
  type CounterSpec,
  type CounterStore,
  type KeyLimits,
  planLimits,
  type TotalCounterSpec,
  usageFacts,
  type WindowCounterSpec,
} from '../../src/limits/index.ts';

export interface StoreHarness {
  /** A store over the shared data; on Redis every call is another client, as another replica is. */
  open(options?: { leaseMs?: number }): Promise<CounterStore>;
  /** Whether several stores may be open over the same data at once. */
  replicas: boolean;
  /** Restarts the backing service or file; every store must be closed first. */
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

const T0 = Date.parse('2026-11-24T12:00:00Z');
const at = (ms: number): Date => new Date(ms);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const budget = (id: string, limit: number, amount: number): TotalCounterSpec => ({
  kind: 'total',
  id,
  unit: 'usd_micro',
  limit,
  amount,
});
const tokens = (id: string, limit: number, amount: number): WindowCounterSpec => ({
  kind: 'window',
  id,
  unit: 'tokens',
  limit,
  amount,
  windowMs: HOUR,
  bucketMs: 10_000,
});
const perMinute = (id: string, limit: number): WindowCounterSpec => ({
  kind: 'window',
  id,
  unit: 'requests',
  limit,
  amount: 1,
  windowMs: MINUTE,
  bucketMs: 1_000,
});
const inFlight = (id: string, limit: number): ConcurrencyCounterSpec => ({ kind: 'concurrency', id, limit });

/** Current usage of one counter, read by reserving nothing (and releasing). */
async function usedOf(store: CounterStore, spec: CounterSpec, now: number): Promise<number> {
  const probe: CounterSpec =
    spec.kind === 'concurrency'
      ? { ...spec, limit: Number.MAX_SAFE_INTEGER }
      : { ...spec, limit: Number.MAX_SAFE_INTEGER, amount: 0 };
  const result = await store.reserve({ requestId: randomUUID(), counters: [probe], now: at(now) });
  assert.ok(result.reservationId);
  await store.release(result.reservationId);
  return result.counters[0].used;
}

export function counterStoreSuite(name: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`counter store contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: CounterStore;
    const ns = randomUUID().slice(0, 8);
    const id = (s: string): string => `test:${ns}:${s}`;

    before(async () => {
      harness = await makeHarness();
      store = await harness.open();
    });
    after(async () => {
      await store?.close();
      await harness?.destroy();
    });

    test('200 concurrent reservations against a budget that admits 50: exactly 50 succeed', async () => {
      const spec = budget(id('race'), 50_000, 1_000);
      const stores = harness.replicas ? [store, await harness.open()] : [store];
      try {
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            stores[i % stores.length].reserve({ requestId: randomUUID(), counters: [spec], now: at(T0) }),
          ),
        );
        const admitted = results.filter((r) => r.ok);
        assert.equal(admitted.length, 50);
        for (const r of results.filter((r) => !r.ok)) {
          assert.equal(r.reservationId, null);
          assert.equal(r.counters[0].fits, false);
        }
        assert.equal(await usedOf(store, spec, T0), 50_000);
      } finally {
        if (stores[1]) await stores[1].close();
      }
    });

    test('all or nothing: when one counter is full, no counter is reserved', async () => {
      const roomy = budget(id('aon-roomy'), 1_000_000, 100);
      const full = inFlight(id('aon-full'), 0);
      const denied = await store.reserve({ requestId: randomUUID(), counters: [roomy, full], now: at(T0) });
      assert.equal(denied.ok, false);
      assert.deepEqual(
        denied.counters.map((c) => [c.used, c.fits]),
        [
          [0, true],
          [0, false],
        ],
      );
      assert.equal(await usedOf(store, roomy, T0), 0);
    });

    test('settle records actual usage, less or more than reserved, even past the limit', async () => {
      const spec = budget(id('settle'), 10_000, 4_000);
      const r1 = await store.reserve({ requestId: randomUUID(), counters: [spec], now: at(T0) });
      assert.ok(r1.ok && r1.reservationId);
      assert.equal(await usedOf(store, spec, T0), 4_000, 'a reservation counts while in flight');
      await store.settle(r1.reservationId, { costMicroUsd: 1_500, tokens: 0 });
      assert.equal(await usedOf(store, spec, T0), 1_500);

      const r2 = await store.reserve({ requestId: randomUUID(), counters: [spec], now: at(T0) });
      assert.ok(r2.ok && r2.reservationId);
      await store.settle(r2.reservationId, { costMicroUsd: 12_000, tokens: 0 });
      assert.equal(await usedOf(store, spec, T0), 13_500, 'overshoot is recorded, not clipped');

      const r3 = await store.reserve({
        requestId: randomUUID(),
        counters: [{ ...spec, amount: 0 }],
        now: at(T0),
      });
      assert.equal(r3.ok, false, 'an exhausted budget refuses even a free call');
      assert.equal(r3.counters[0].used, 13_500);
    });

    test('settle is idempotent and unknown ids are ignored', async () => {
      const spec = budget(id('idem'), 10_000, 1_000);
      const r = await store.reserve({ requestId: randomUUID(), counters: [spec], now: at(T0) });
      assert.ok(r.reservationId);
      await store.settle(r.reservationId, { costMicroUsd: 700, tokens: 0 });
      await store.settle(r.reservationId, { costMicroUsd: 700, tokens: 0 });
      await store.release(r.reservationId);
      await store.settle(randomUUID(), { costMicroUsd: 5_000, tokens: 0 });
      assert.equal(await usedOf(store, spec, T0), 700);
    });

    test('release undoes a reservation on budgets, windows and in-flight slots', async () => {
      const specs = [
        budget(id('rel-b'), 10_000, 3_000),
        tokens(id('rel-t'), 1_000, 400),
        inFlight(id('rel-f'), 1),
      ];
      const r = await store.reserve({ requestId: randomUUID(), counters: specs, now: at(T0) });
      assert.ok(r.reservationId);
      await store.release(r.reservationId);
      for (const spec of specs) assert.equal(await usedOf(store, spec, T0), 0, spec.id);
    });

    test('tokens per hour: worst case reserved, actual settled, usage leaves after a full hour', async () => {
      const spec = tokens(id('tph'), 1_000, 600);
      const r1 = await store.reserve({ requestId: randomUUID(), counters: [spec], now: at(T0) });
      assert.ok(r1.ok && r1.reservationId);
      const denied = await store.reserve({
        requestId: randomUUID(),
        counters: [{ ...spec, amount: 500 }],
        now: at(T0 + 30 * MINUTE),
      });
      assert.equal(denied.ok, false);
      assert.equal(denied.counters[0].used, 600);
      assert.equal(denied.counters[0].freesAt, T0 + HOUR + 10_000);

      await store.settle(r1.reservationId, { costMicroUsd: 0, tokens: 300 });
      const r2 = await store.reserve({
        requestId: randomUUID(),
        counters: [{ ...spec, amount: 500 }],
        now: at(T0 + 30 * MINUTE),
      });
      assert.equal(r2.ok, true);
      assert.equal(r2.counters[0].used, 300);
      assert.ok(r2.reservationId);
      await store.settle(r2.reservationId, { costMicroUsd: 0, tokens: 500 });

      assert.equal(await usedOf(store, spec, T0 + HOUR - 1), 800, 'still inside the hour');
      assert.equal(await usedOf(store, spec, T0 + HOUR + 10_000), 500, 'the first call left the window');
      assert.equal(await usedOf(store, spec, T0 + 30 * MINUTE + HOUR + 10_000), 0);
    });

    test('requests per minute: no burst across a minute boundary', async () => {
      const spec = perMinute(id('rpm'), 3);
      const lateInMinute = T0 + 59_900;
      for (let i = 0; i < 3; i++) {
        const r = await store.reserve({ requestId: randomUUID(), counters: [spec], now: at(lateInMinute) });
        assert.ok(r.ok && r.reservationId);
        await store.settle(r.reservationId, { costMicroUsd: 0, tokens: 0 });
      }
      const nextMinute = await store.reserve({
        requestId: randomUUID(),
        counters: [spec],
        now: at(T0 + 60_100),
      });
      assert.equal(nextMinute.ok, false, 'a fixed window would admit 3 more here');
      assert.equal(nextMinute.counters[0].used, 3);
      const later = await store.reserve({
        requestId: randomUUID(),
        counters: [spec],
        now: at(lateInMinute + 61_000),
      });
      assert.equal(later.ok, true);
    });

    test('in-flight cap: slots are taken at reserve and freed by settle or release', async () => {
      const spec = inFlight(id('inflight'), 2);
      const reserve = () => store.reserve({ requestId: randomUUID(), counters: [spec], now: at(T0) });
      const a = await reserve();
      const b = await reserve();
      assert.ok(a.ok && b.ok && a.reservationId && b.reservationId);
      const c = await reserve();
      assert.equal(c.ok, false);
      assert.equal(c.counters[0].used, 2);
      await store.settle(a.reservationId, { costMicroUsd: 10, tokens: 10 });
      const d = await reserve();
      assert.ok(d.ok && d.reservationId);
      await store.release(b.reservationId);
      await store.release(d.reservationId);
      assert.equal(await usedOf(store, spec, T0), 0);
    });

    test('a reservation never settled (its process died) stops holding when its lease ends', async () => {
      const slot = inFlight(id('lease-f'), 1);
      const money = budget(id('lease-b'), 1_000, 1_000);
      const dying = harness.replicas ? await harness.open({ leaseMs: 5_000 }) : store;
      const held = await dying.reserve({
        requestId: randomUUID(),
        counters: [slot, money],
        now: at(T0),
        leaseMs: 5_000,
      });
      assert.equal(held.ok, true);
      if (dying !== store) await dying.close();

      const during = await store.reserve({
        requestId: randomUUID(),
        counters: [slot, money],
        now: at(T0 + 4_999),
      });
      assert.equal(during.ok, false);
      const afterLease = await store.reserve({
        requestId: randomUUID(),
        counters: [slot, money],
        now: at(T0 + 5_000),
      });
      assert.equal(afterLease.ok, true);
      assert.deepEqual(
        afterLease.counters.map((c) => c.used),
        [0, 0],
      );
      assert.ok(afterLease.reservationId);
      await store.release(afterLease.reservationId);
    });

    test('leases end in order, whichever reservations were released first', async () => {
      const slot = inFlight(id('lease-order'), 10);
      const reserveAt = async (ms: number) => {
        const r = await store.reserve({
          requestId: randomUUID(),
          counters: [slot],
          now: at(T0 + ms),
          leaseMs: 5_000,
        });
        assert.ok(r.reservationId);
        return r.reservationId;
      };
      await reserveAt(0);
      const second = await reserveAt(1_000);
      await reserveAt(2_000);
      const newest = await reserveAt(3_000);
      await store.release(second);
      await store.release(newest);
      const usedAt = async (ms: number) => {
        const probe = await store.reserve({ requestId: randomUUID(), counters: [slot], now: at(T0 + ms) });
        assert.ok(probe.reservationId);
        await store.release(probe.reservationId);
        return probe.counters[0].used;
      };
      assert.equal(await usedAt(4_999), 2);
      assert.equal(await usedAt(5_000), 1);
      assert.equal(await usedAt(6_999), 1);
      assert.equal(await usedAt(7_000), 0);
    });

    describe('with the planner', () => {
      const keyHash = `sha256:${'ab'.repeat(32)}`;
      const key = (budgets: BudgetPolicy[], suffix: string): KeyLimits => ({
        id: `alice-${ns}-${suffix}`,
        keyHash,
        budgets,
      });

      async function call(k: KeyLimits, iso: string, worstUsd: number, actualUsd?: number) {
        const plan = planLimits({
          key: k,
          teams: [],
          worstCase: { costMicroUsd: worstUsd * 1e6, tokens: 0 },
          now: new Date(iso),
        });
        const result = await store.reserve({
          requestId: randomUUID(),
          counters: plan.counters,
          now: new Date(iso),
        });
        if (result.reservationId) {
          if (actualUsd === undefined) await store.release(result.reservationId);
          else await store.settle(result.reservationId, { costMicroUsd: actualUsd * 1e6, tokens: 0 });
        }
        return { ok: result.ok, facts: usageFacts(plan, result) };
      }

      test('daily budget in America/New_York resets at local midnight across DST changes', async () => {
        const k = key([{ period: 'daily', amountUsd: 1, timezone: 'America/New_York' }], 'dst');
        // Spring forward: 8 March 2026 has 23 hours.
        assert.equal((await call(k, '2026-03-08T05:30:00Z', 1, 1)).ok, true);
        const lastMinute = await call(k, '2026-03-09T03:59:00Z', 0.01);
        assert.equal(lastMinute.ok, false);
        assert.equal(lastMinute.facts.budgets[0].usedUsd, 1);
        assert.equal(lastMinute.facts.budgets[0].resetsAt, '2026-03-09T00:00:00-04:00');
        assert.equal(lastMinute.facts.budgets[0].resetsInSeconds, 60);
        const nextDay = await call(k, '2026-03-09T04:00:00Z', 0.01);
        assert.equal(nextDay.ok, true);
        assert.equal(nextDay.facts.budgets[0].usedUsd, 0);

        // Fall back: 1 November 2026 has 25 hours.
        assert.equal((await call(k, '2026-11-01T04:30:00Z', 1, 1)).ok, true);
        const lateSameDay = await call(k, '2026-11-02T04:30:00Z', 0.01);
        assert.equal(lateSameDay.ok, false, '23:30 EST is still 1 November');
        assert.equal(lateSameDay.facts.budgets[0].resetsAt, '2026-11-02T00:00:00-05:00');
        assert.equal((await call(k, '2026-11-02T05:00:00Z', 0.01)).ok, true);
      });

      test('weekly budget resets on Monday at local midnight', async () => {
        const k = key([{ period: 'weekly', amountUsd: 2, timezone: 'America/New_York' }], 'weekly');
        assert.equal((await call(k, '2026-03-09T00:00:00Z', 2, 2)).ok, true); // Sunday 20:00 EDT
        const sundayNight = await call(k, '2026-03-09T03:59:59Z', 0.01);
        assert.equal(sundayNight.ok, false);
        assert.equal(sundayNight.facts.budgets[0].resetsAt, '2026-03-09T00:00:00-04:00');
        const monday = await call(k, '2026-03-09T04:00:00Z', 0.01);
        assert.equal(monday.ok, true);
        assert.equal(monday.facts.budgets[0].usedUsd, 0);
      });

      test('raising or lowering a budget keeps the spend so far', async () => {
        const iso = '2026-11-24T15:00:00Z';
        const monthly = (amountUsd: number) => key([{ period: 'monthly', amountUsd }], 'change');
        assert.equal((await call(monthly(10), iso, 6, 6)).ok, true);
        const lowered = await call(monthly(5), iso, 0.5);
        assert.equal(lowered.ok, false);
        assert.deepEqual([lowered.facts.budgets[0].usedUsd, lowered.facts.budgets[0].limitUsd], [6, 5]);
        const raised = await call(monthly(20), iso, 0.5);
        assert.equal(raised.ok, true);
        assert.deepEqual([raised.facts.budgets[0].usedUsd, raised.facts.budgets[0].limitUsd], [6, 20]);
      });

      test('a key re-created with a new secret does not inherit the old key’s spend', async () => {
        const iso = '2026-11-24T15:00:00Z';
        const old = key([{ period: 'total', amountUsd: 1 }], 'recreated');
        assert.equal((await call(old, iso, 1, 1)).ok, true);
        assert.equal((await call(old, iso, 0.5)).ok, false);
        const renewed: KeyLimits = { ...old, keyHash: `sha256:${'cd'.repeat(32)}` };
        const fresh = await call(renewed, iso, 0.5);
        assert.equal(fresh.ok, true);
        assert.equal(fresh.facts.budgets[0].usedUsd, 0);
      });
    });

    test('peek reads settled and reserved usage and reserves nothing', async () => {
      const money = budget(id('peek-b'), 10_000, 3_000);
      const slots = inFlight(id('peek-c'), 1);
      const r = await store.reserve({ requestId: randomUUID(), counters: [money, slots], now: at(T0) });
      assert.ok(r.reservationId);
      const seen = await store.peek({ counters: [money, slots], now: at(T0) });
      assert.deepEqual(
        seen.map((c) => [c.used, c.fits]),
        [
          [3_000, true],
          [1, false],
        ],
      );
      await store.settle(r.reservationId, { costMicroUsd: 2_500, tokens: 0 });
      const again = await store.peek({ counters: [money, slots], now: at(T0) });
      assert.deepEqual(
        again.map((c) => c.used),
        [2_500, 0],
      );
      // Peeking twice took no slot: a reservation still fits.
      const next = await store.reserve({ requestId: randomUUID(), counters: [slots], now: at(T0) });
      assert.equal(next.ok, true);
      if (next.reservationId) await store.release(next.reservationId);
    });

    test('claim succeeds once per id across replicas until it expires', async () => {
      const other = harness.replicas ? await harness.open() : store;
      try {
        const claimId = id('claim');
        const tries = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? store : other).claim(claimId, Date.now() + HOUR),
          ),
        );
        assert.equal(tries.filter(Boolean).length, 1);
        assert.equal(await store.claim(id('claim-2'), Date.now() + HOUR), true);
        const brief = id('claim-brief');
        assert.equal(await store.claim(brief, Date.now() + 1_000), true);
        await new Promise((r) => setTimeout(r, 1_100));
        assert.equal(
          await other.claim(brief, Date.now() + HOUR),
          true,
          'an expired claim can be taken again',
        );
      } finally {
        if (other !== store) await other.close();
      }
    });

    test('a restart keeps settled usage', async () => {
      const money = budget(id('restart-b'), 1_000_000, 10_000);
      const toks = tokens(id('restart-t'), 100_000, 1_000);
      const r = await store.reserve({ requestId: randomUUID(), counters: [money, toks], now: at(T0) });
      assert.ok(r.reservationId);
      await store.settle(r.reservationId, { costMicroUsd: 7_250, tokens: 2_500 });
      await store.close();
      await harness.restart();
      store = await harness.open();
      assert.equal(await usedOf(store, money, T0 + 1_000), 7_250);
      assert.equal(await usedOf(store, toks, T0 + 1_000), 2_500);
    });
  });
}
