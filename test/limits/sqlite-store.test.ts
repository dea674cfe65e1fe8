import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openCounterStore, SqliteCounterStore } from '../../src/limits/index.ts';
import { budget, counterStoreSuite } from './store-suite.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-limits-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

counterStoreSuite('sqlite', async () => {
  const path = join(tempDir(), 'limits.sqlite');
  return {
    replicas: false,
    open: async (options) => new SqliteCounterStore({ path, leaseMs: options?.leaseMs }),
    restart: async () => {},
    destroy: async () => {},
  };
});

describe('sqlite counter store', () => {
  const now = new Date('2026-11-24T12:00:00Z');

  test('a second process cannot open the same file, with a message that says why', async () => {
    const dir = tempDir();
    const store = openCounterStore({ dataDir: dir });
    await store.reserve({ requestId: randomUUID(), counters: [budget('x', 10, 1)], now });
    const child = spawnSync(
      process.execPath,
      [
        '-e',
        `new (require('node:sqlite').DatabaseSync)(${JSON.stringify(join(dir, 'limits.sqlite'))}).exec('BEGIN IMMEDIATE')`,
      ],
      { encoding: 'utf8' },
    );
    assert.notEqual(child.status, 0, 'the file is locked');
    assert.throws(
      () => new SqliteCounterStore({ path: join(dir, 'limits.sqlite') }),
      /in use by another process/,
    );
    await store.close();
    const reopened = new SqliteCounterStore({ path: join(dir, 'limits.sqlite') });
    await reopened.close();
  });

  test('settled spend survives a process killed right after settle', () => {
    const path = join(tempDir(), 'limits.sqlite');
    const worker = fileURLToPath(new URL('./fixtures/sqlite-crash-worker.ts', import.meta.url));
    const child = spawnSync(process.execPath, [worker, path], { encoding: 'utf8' });
    assert.equal(child.signal, 'SIGKILL', child.stderr);
    const store = new SqliteCounterStore({ path });
    const r = store.reserve({ requestId: randomUUID(), counters: [budget('crash', 1_000_000, 0)], now });
    assert.equal(r.counters[0].used, 4_321, 'the settled amount; the unsettled reservation is gone');
    return store.close();
  });

  test('every settle of a burst is on disk once it resolved, though they share commits', () => {
    const path = join(tempDir(), 'limits.sqlite');
    const worker = fileURLToPath(new URL('./fixtures/sqlite-crash-batch-worker.ts', import.meta.url));
    const child = spawnSync(process.execPath, [worker, path], { encoding: 'utf8' });
    assert.equal(child.signal, 'SIGKILL', child.stderr);
    const store = new SqliteCounterStore({ path });
    const r = store.reserve({
      requestId: randomUUID(),
      counters: [budget('crash-batch', 1_000_000, 0)],
      now,
    });
    // 50 settles of 100..149 micro-USD.
    assert.equal(r.counters[0].used, 50 * 100 + (49 * 50) / 2);
    return store.close();
  });

  test('idle counters leave memory and come back with their usage', async () => {
    const store = new SqliteCounterStore({ path: join(tempDir(), 'limits.sqlite') });
    const spec = budget('idle', 1_000_000, 500);
    const r = await store.reserve({ requestId: randomUUID(), counters: [spec], now });
    assert.ok(r.reservationId);
    await store.settle(r.reservationId, { costMicroUsd: 321, tokens: 0 });
    store.sweep();
    store.sweep();
    assert.equal(store.cachedCounters, 0);
    const again = await store.reserve({ requestId: randomUUID(), counters: [spec], now });
    assert.equal(again.counters[0].used, 321);
    await store.close();
  });

  test('a closed store refuses calls instead of admitting them', async () => {
    const store = new SqliteCounterStore({ path: join(tempDir(), 'limits.sqlite') });
    await store.close();
    assert.throws(
      () => store.reserve({ requestId: randomUUID(), counters: [budget('closed', 100, 10)], now }),
      /closed/,
    );
  });
});
