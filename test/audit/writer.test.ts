// The writer thread: batches are committed off the main thread, and nothing a caller appended is
// lost, duplicated or reordered when that thread dies, when the queue fills up while a batch is at
// the thread, or when the process simply runs out of work.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { readCheckpoint } from '../../src/audit/checkpoint.ts';
import { AuditLog, type AuditLogOptions, auditLogInternals } from '../../src/audit/log.ts';
import type { AuditEntry } from '../../src/audit/record.ts';
import type { AuditSink } from '../../src/audit/sinks/types.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { makeRecord, silentLogger, tempDir } from './helpers.ts';

function stored(dbPath: string): AuditEntry[] {
  const store = new AuditStore(dbPath, { readOnly: true });
  try {
    return store.after(0, 1_000_000);
  } finally {
    store.close();
  }
}

const requestIds = (entries: AuditEntry[]) => entries.map((e) => JSON.parse(e.json).requestId as string);
const expectedIds = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `req-${from + i}`);

/** The log is complete: `n` records, req-1..req-n in append order, a valid chain and checkpoint. */
function assertComplete(dbPath: string, n: number): void {
  const entries = stored(dbPath);
  assert.deepEqual(requestIds(entries), expectedIds(1, n));
  const v = verifyAuditLog(dbPath);
  assert.deepEqual(v.problem, undefined);
  assert.equal(v.ok, true);
  assert.equal(v.lastSeq, n);
  assert.equal(v.checkpoint?.seq, n);
}

async function metric(registry: Registry, name: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m ? m.values.reduce((sum, v) => sum + v.value, 0) : Number.NaN;
}

function open(dir: string, options: AuditLogOptions = {}) {
  const log = AuditLog.open({ dataDir: dir, logger: silentLogger, ...options });
  return { log, hooks: log[auditLogInternals](), db: join(dir, 'audit.db') };
}

/** A sink that keeps what it is given. */
function memorySink(): AuditSink & { got: AuditEntry[] } {
  const got: AuditEntry[] = [];
  return {
    name: 'memory',
    maxBatch: 1000,
    got,
    async deliver(entries) {
      got.push(...entries);
    },
    async close() {},
  };
}

describe('audit writer thread', () => {
  test('the batches are committed by a worker thread, not on the main thread', async (t) => {
    const { log, hooks } = open(tempDir(t));
    t.after(() => log.close());
    const worker = hooks.worker();
    assert.ok(worker);
    assert.notEqual(worker.threadId, 0);
    log.append(makeRecord(1));
    await log.flush();
    assert.equal(log.queueDepth, 0);
  });

  test('records appended from many concurrent calls commit in append order with a valid chain', async (t) => {
    const dir = tempDir(t);
    const { log, db } = open(dir, { flushIntervalMs: 2, batchSize: 25 });
    let next = 1;
    // 40 "requests" each appending 30 records with event-loop turns in between: batches go to the
    // writer while appends keep arriving.
    await Promise.all(
      Array.from({ length: 40 }, async (_, c) => {
        for (let k = 0; k < 30; k++) {
          log.append(makeRecord(next++));
          if ((k + c) % 3 === 0) await nextTurn();
          else if ((k + c) % 7 === 0) await sleep(1);
        }
      }),
    );
    await log.flush();
    assert.equal(log.queueDepth, 0);
    assertComplete(db, 1200);
    await log.close();
  });

  test('flush waits for what was appended before it, across several batches', async (t) => {
    const dir = tempDir(t);
    const registry = new Registry();
    const { log, db } = open(dir, { registry, flushIntervalMs: 60_000, batchSize: 100 });
    t.after(() => log.close());
    for (let i = 1; i <= 1050; i++) log.append(makeRecord(i));
    await log.flush();
    assert.equal(log.queueDepth, 0);
    assertComplete(db, 1050);
    assert.equal(await metric(registry, 'portcullis_audit_records_written_total'), 1050);
  });

  test('close commits everything queued, including batches still on their way to the writer', async (t) => {
    const dir = tempDir(t);
    const { log, hooks, db } = open(dir, { flushIntervalMs: 1, batchSize: 100 });
    const worker = hooks.worker();
    for (let i = 1; i <= 2000; i++) log.append(makeRecord(i));
    await nextTurn(); // the first batch is at the writer
    await log.close();
    assertComplete(db, 2000);
    assert.equal(hooks.worker(), undefined);
    assert.ok(worker);
    assert.equal(worker.threadId, -1, 'the writer thread has ended');
  });

  test('a writer thread terminated mid-way loses nothing: its batch is written by the next one', async (t) => {
    const dir = tempDir(t);
    const registry = new Registry();
    const { log, hooks, db } = open(dir, { registry, flushIntervalMs: 60_000, batchSize: 100 });
    t.after(() => log.close());
    let n = 0;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 450; i++) log.append(makeRecord(++n));
      const flushed = log.flush(); // sends the first batch
      const worker = hooks.worker();
      assert.ok(worker);
      await worker.terminate();
      await flushed;
      assert.notEqual(hooks.worker(), worker, 'a new writer took over');
    }
    assert.equal(log.queueDepth, 0);
    assertComplete(db, 1350);
    assert.equal(await metric(registry, 'portcullis_audit_writer_exits_total'), 3);
    assert.equal(await metric(registry, 'portcullis_audit_records_written_total'), 1350);
  });

  test('a writer that dies after its commit but before answering: the batch is not written twice', async (t) => {
    const dir = tempDir(t);
    const sink = memorySink();
    const { log, hooks, db } = open(dir, { flushIntervalMs: 60_000, sinks: [sink] });
    t.after(() => log.close());
    for (let i = 1; i <= 10; i++) log.append(makeRecord(i));
    hooks.exitAfterNextCommit();
    const first = hooks.worker();
    await log.flush();
    assert.notEqual(hooks.worker(), first);
    assert.equal(readCheckpoint(`${db}.checkpoint`)?.seq, 10, 'the checkpoint follows the recovered batch');
    for (let i = 11; i <= 20; i++) log.append(makeRecord(i));
    await log.flush();
    assertComplete(db, 20);
    assert.equal(await log.waitForSinks(5000), true);
    assert.deepEqual(sink.got, stored(db));
  });

  test('a writer that keeps dying: writing moves to the main thread and nothing is lost', async (t) => {
    const dir = tempDir(t);
    const { log, hooks, db } = open(dir, { flushIntervalMs: 60_000, batchSize: 10 });
    for (let i = 1; i <= 25; i++) log.append(makeRecord(i));
    const flushed = log.flush();
    // Each new writer is killed before it can start, so no batch commits in between.
    for (let deaths = 0; deaths < 4; deaths++) {
      const worker = hooks.worker();
      assert.ok(worker, `a writer after ${deaths} deaths`);
      await worker.terminate();
      await nextTurn();
    }
    assert.equal(hooks.worker(), undefined);
    await flushed;
    for (let i = 26; i <= 30; i++) log.append(makeRecord(i));
    await log.close();
    assertComplete(db, 30);
  });

  test('a full queue while a batch is at the writer: the caller waits for that batch, order is kept', async (t) => {
    const dir = tempDir(t);
    const registry = new Registry();
    const { log, db } = open(dir, { registry, flushIntervalMs: 60_000, batchSize: 50, maxQueue: 100 });
    t.after(() => log.close());
    for (let i = 1; i <= 100; i++) log.append(makeRecord(i));
    const flushed = log.flush(); // records 1..50 are now at the writer, 51..100 queued
    log.append(makeRecord(101)); // full: blocks until 1..50 are committed, which makes room
    assert.equal(log.queueDepth, 51);
    assert.equal(await metric(registry, 'portcullis_audit_queue_full_total'), 1);
    await flushed;
    await log.flush();
    assertComplete(db, 101);
  });

  test('a full queue with nothing at the writer is written inline by the caller, a batch at a time', async (t) => {
    const dir = tempDir(t);
    const { log, db } = open(dir, { flushIntervalMs: 60_000, batchSize: 50, maxQueue: 100 });
    t.after(() => log.close());
    // One synchronous run: the batcher's timers never fire, so room is the caller's to make.
    for (let i = 1; i <= 100; i++) log.append(makeRecord(i));
    log.append(makeRecord(101)); // nothing at the writer: commits req-1..req-50 right here
    assert.deepEqual(requestIds(stored(db).slice(0, 50)), expectedIds(1, 50));
    for (let i = 102; i <= 250; i++) {
      log.append(makeRecord(i));
      assert.ok(log.queueDepth <= 100);
    }
    await log.flush();
    assertComplete(db, 250);
  });

  test('sinks receive every committed record, in order, through writer restarts', async (t) => {
    const dir = tempDir(t);
    const sink = memorySink();
    const { log, hooks, db } = open(dir, {
      flushIntervalMs: 60_000,
      batchSize: 40,
      sinks: [sink, { type: 'jsonl', path: 'siem/audit.jsonl' }],
    });
    for (let i = 1; i <= 100; i++) log.append(makeRecord(i));
    const flushed = log.flush();
    await hooks.worker()?.terminate();
    await flushed;
    hooks.exitAfterNextCommit();
    for (let i = 101; i <= 200; i++) log.append(makeRecord(i));
    await log.flush();
    for (let i = 201; i <= 260; i++) log.append(makeRecord(i));
    await log.close();
    assertComplete(db, 260);
    const entries = stored(db);
    assert.deepEqual(sink.got, entries);
    const { readFileSync } = await import('node:fs');
    const lines = readFileSync(join(dir, 'siem/audit.jsonl'), 'utf8').trim().split('\n');
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { hash: string }).hash),
      entries.map((e) => e.hash),
    );
  });

  test('a process that appends and never closes exits on its own once the records are committed', (t) => {
    const logUrl = new URL('../../src/audit/log.ts', import.meta.url).href;
    for (const appends of [3, 0]) {
      const dir = tempDir(t);
      const script = `
        import { AuditLog } from ${JSON.stringify(logUrl)};
        const log = AuditLog.open({ dataDir: ${JSON.stringify(dir)}, flushIntervalMs: 20 });
        for (let i = 1; i <= ${appends}; i++) log.append(${JSON.stringify(makeRecord(0))});
      `;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(r.signal, null, `with ${appends} appends: exited on its own`);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(stored(join(dir, 'audit.db')).length, appends);
    }
  });
});
