import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import {
  type CounterStore,
  RedisCounterStore,
  STORE_ERRORS_METRIC,
  StoreUnavailableError,
} from '../../src/limits/index.ts';
import { RedisServer, redisAvailable } from './redis-server.ts';
import { budget, counterStoreSuite } from './store-suite.ts';

const skip = redisAvailable()
  ? false
  : 'redis-server is not installed (set REDIS_SERVER to its path to run these)';
const now = new Date('2026-11-24T12:00:00Z');

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

async function openStore(
  url: string,
  options: { leaseMs?: number; registry?: Registry; commandTimeoutMs?: number } = {},
) {
  const store = new RedisCounterStore({ url, commandTimeoutMs: 300, ...options });
  await store.ready();
  return store;
}

describe('redis', { skip }, () => {
  counterStoreSuite('redis', async () => {
    const server = new RedisServer();
    await server.start();
    return {
      replicas: true,
      open: (options) => openStore(server.url, options),
      restart: async () => {
        await server.stop();
        await server.start();
      },
      destroy: () => server.destroy(),
    };
  });

  describe('redis counter store', () => {
    const server = new RedisServer();
    before(() => server.start());
    after(() => server.destroy());

    test('replicas in two processes never jointly overshoot', async () => {
      const counterId = `race2:${randomUUID()}`;
      const spec = budget(counterId, 50_000, 1_000);
      const worker = fileURLToPath(new URL('./fixtures/redis-reserve-worker.ts', import.meta.url));
      const child = fork(worker, [server.url, counterId, '100'], {
        execPath: process.execPath,
        stdio: 'inherit',
      });
      const childDone = new Promise<number>((resolve, reject) => {
        child.on('message', (m) => {
          if (typeof m === 'object' && m && 'admitted' in m) resolve(Number(m.admitted));
        });
        child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
      });
      await new Promise<void>((resolve) => child.once('message', () => resolve()));
      const local = await openStore(server.url);
      child.send('go');
      const mine = await Promise.all(
        Array.from({ length: 100 }, () => local.reserve({ requestId: randomUUID(), counters: [spec], now })),
      );
      const admitted = mine.filter((r) => r.ok).length + (await childDone);
      assert.equal(admitted, 50);
      const probe = await local.reserve({ requestId: randomUUID(), counters: [{ ...spec, amount: 0 }], now });
      assert.equal(probe.counters[0].used, 50_000);
      await local.close();
    });

    test('stopped mid-run: calls reject with StoreUnavailableError, then work again once it is back', async () => {
      const registry = new Registry();
      const store: CounterStore = await openStore(server.url, { registry });
      const spec = budget(`outage:${randomUUID()}`, 1_000_000, 10_000);
      const before = await store.reserve({ requestId: randomUUID(), counters: [spec], now });
      assert.ok(before.ok && before.reservationId);

      await server.stop();
      const during = store.reserve({ requestId: randomUUID(), counters: [spec], now });
      await assert.rejects(Promise.resolve(during), (err: unknown) => {
        assert.ok(err instanceof StoreUnavailableError);
        assert.equal(err.operation, 'reserve');
        assert.doesNotMatch(err.message, /redis:\/\//, 'no connection string in errors');
        return true;
      });
      // A settle during the outage fails too, and is replayed once Redis is back.
      await assert.rejects(
        store.settle(before.reservationId, { costMicroUsd: 2_500, tokens: 0 }),
        (err: unknown) => {
          assert.ok(err instanceof StoreUnavailableError);
          assert.equal(err.willRetry, true);
          return true;
        },
      );
      const errors = (await registry.getSingleMetric(STORE_ERRORS_METRIC)?.get())?.values ?? [];
      const count = (op: string) => errors.find((v) => v.labels.operation === op)?.value ?? 0;
      assert.equal(count('reserve'), 1);
      assert.equal(count('settle'), 1);

      await server.start();
      let recovered = null;
      for (let i = 0; i < 100 && !recovered; i++) {
        try {
          recovered = await store.reserve({
            requestId: randomUUID(),
            counters: [{ ...spec, amount: 0 }],
            now,
          });
        } catch (err) {
          assert.ok(err instanceof StoreUnavailableError);
          await sleep(50);
        }
      }
      assert.ok(recovered, 'the store reconnected by itself');
      for (let i = 0; i < 100 && (store as RedisCounterStore).pendingFinishes > 0; i++) await sleep(20);
      assert.equal((store as RedisCounterStore).pendingFinishes, 0);
      const probe = await store.reserve({ requestId: randomUUID(), counters: [{ ...spec, amount: 0 }], now });
      assert.equal(probe.counters[0].used, 2_500, 'the replayed settle replaced the reservation');
      await store.close();
      assert.deepEqual(unhandled, []);
    });

    test('unreachable from the start: calls fail fast instead of queueing', async () => {
      const down = new RedisServer();
      await down.start();
      const url = down.url;
      await down.destroy();
      const store = new RedisCounterStore({ url, commandTimeoutMs: 300 });
      await assert.rejects(
        store.reserve({ requestId: randomUUID(), counters: [budget('never', 10, 1)], now }),
        StoreUnavailableError,
      );
      await store.close();
    });

    test("a reply waiting while this process's event loop is busy is read, not timed out", async () => {
      const store = await openStore(server.url, { commandTimeoutMs: 100 });
      try {
        const spec = budget(`busy:${randomUUID()}`, 1_000, 10);
        await store.peek({ counters: [spec], now }); // loads the script
        // The command is written at once; Redis answers within a millisecond, while this loop is
        // blocked for four times the deadline (as under a burst of calls on a loaded host).
        const reserved = store.reserve({ requestId: randomUUID(), counters: [spec], now });
        const blockedUntil = Date.now() + 400;
        while (Date.now() < blockedUntil) {
          // busy
        }
        const r = await reserved;
        assert.ok(r.ok);
        assert.equal(r.counters[0].used, 0);
      } finally {
        await store.close();
      }
    });

    test('a frozen Redis times out; a reserve it made late is released, not held for its lease', async () => {
      const store = await openStore(server.url);
      try {
        const spec = budget(`frozen:${randomUUID()}`, 1_000, 10);
        await store.peek({ counters: [spec], now });
        const requestId = randomUUID();
        server.pause();
        try {
          const started = Date.now();
          await assert.rejects(
            store.reserve({ requestId, counters: [spec], now }),
            (err: unknown) => err instanceof StoreUnavailableError && err.operation === 'reserve',
          );
          assert.ok(Date.now() - started < 3_000, 'the deadline holds against a peer that never answers');
        } finally {
          server.resume();
        }
        // Redis runs the queued reserve once it wakes; its late reply releases the hold.
        let used = -1;
        for (let i = 0; i < 100 && used !== 0; i++) {
          await sleep(20);
          used = (await store.peek({ counters: [spec], now }))[0].used;
        }
        assert.equal(used, 0, 'the late reservation was released');
        const marker = await store.client.exists(`portcullis:limits:done:${requestId}`);
        assert.equal(marker, 1, 'it was made, then released');
      } finally {
        await store.close();
      }
    });

    test('one round trip per reserve and per settle', async () => {
      const store = await openStore(server.url);
      const client = store.client;
      const sent: string[] = [];
      const original = client.sendCommand.bind(client);
      client.sendCommand = ((command: { name: string }) => {
        sent.push(command.name);
        return original(command as never);
      }) as typeof client.sendCommand;
      const specs = [budget(`rt:${randomUUID()}`, 1_000, 10), budget(`rt:${randomUUID()}`, 1_000, 10)];
      const r = await store.reserve({ requestId: randomUUID(), counters: specs, now });
      assert.ok(r.reservationId);
      const afterReserve = sent.length;
      await store.settle(r.reservationId, { costMicroUsd: 5, tokens: 0 });
      assert.deepEqual(
        [afterReserve, sent.length - afterReserve],
        [1, 1],
        `commands sent: ${sent.join(', ')}`,
      );
      await store.close();
    });
  });
});
