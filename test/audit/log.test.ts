import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { AuditLog, AuditQueueFullError } from '../../src/audit/log.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { makeRecord, silentLogger, tempDir } from './helpers.ts';

function count(dbPath: string): number {
  const store = new AuditStore(dbPath, { readOnly: true });
  try {
    return store.count();
  } finally {
    store.close();
  }
}

async function metric(registry: Registry, name: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m ? m.values.reduce((sum, v) => sum + v.value, 0) : Number.NaN;
}

describe('audit log write path', () => {
  test('10,000 appends then close: all 10,000 are in the log, chained and verified', async (t) => {
    const dir = tempDir(t);
    const registry = new Registry();
    const log = AuditLog.open({ dataDir: dir, registry, logger: silentLogger });
    for (let i = 1; i <= 10_000; i++) log.append(makeRecord(i));
    await log.close();
    const db = join(dir, 'audit.db');
    assert.equal(count(db), 10_000);
    const v = verifyAuditLog(db);
    assert.deepEqual([v.ok, v.lastSeq], [true, 10_000]);
    assert.equal(await metric(registry, 'portcullis_audit_records_written_total'), 10_000);
    const store = new AuditStore(db, { readOnly: true });
    const first = store.after(0, 1)[0];
    const last = store.at(10_000);
    store.close();
    assert.equal(JSON.parse(first.json).requestId, 'req-1');
    assert.equal(JSON.parse(last!.json).requestId, 'req-10000');
  });

  test('append only enqueues; close writes what is queued', async (t) => {
    const dir = tempDir(t);
    const log = AuditLog.open({
      dataDir: dir,
      flushIntervalMs: 60_000,
      batchSize: 1000,
      logger: silentLogger,
    });
    for (let i = 1; i <= 3; i++) log.append(makeRecord(i));
    assert.equal(log.queueDepth, 3);
    assert.equal(count(join(dir, 'audit.db')), 0);
    await log.close();
    assert.equal(count(join(dir, 'audit.db')), 3);
    assert.throws(() => log.append(makeRecord(4)), /closed/);
  });

  test('flush commits the queue and the checkpoint follows', async (t) => {
    const dir = tempDir(t);
    const log = AuditLog.open({ dataDir: dir, flushIntervalMs: 60_000, logger: silentLogger });
    t.after(() => log.close());
    log.append(makeRecord(1));
    log.append(makeRecord(2));
    await log.flush();
    assert.equal(log.queueDepth, 0);
    const v = verifyAuditLog(join(dir, 'audit.db'));
    assert.deepEqual([v.records, v.checkpoint?.seq, v.ok], [2, 2, true]);
  });

  test('the batcher commits on its own, without flush or close', async (t) => {
    const dir = tempDir(t);
    const log = AuditLog.open({ dataDir: dir, flushIntervalMs: 10, logger: silentLogger });
    t.after(() => log.close());
    log.append(makeRecord(1));
    // The commit happens on the writer thread; the queue empties when its answer is back.
    while (log.queueDepth > 0) await new Promise((r) => setTimeout(r, 5));
    assert.equal(count(join(dir, 'audit.db')), 1);
  });

  test('a full queue is written inline by the caller, counted, and nothing is dropped', async (t) => {
    const dir = tempDir(t);
    const registry = new Registry();
    const log = AuditLog.open({
      dataDir: dir,
      registry,
      flushIntervalMs: 60_000,
      batchSize: 50,
      maxQueue: 100,
      logger: silentLogger,
    });
    for (let i = 1; i <= 250; i++) log.append(makeRecord(i));
    assert.ok(log.queueDepth <= 100);
    assert.ok((await metric(registry, 'portcullis_audit_queue_full_total')) >= 1);
    await log.close();
    assert.equal(count(join(dir, 'audit.db')), 250);
  });

  test('when the database cannot be written, a full queue refuses loudly and keeps what it took', async (t) => {
    const dir = tempDir(t);
    const registry = new Registry();
    const log = AuditLog.open({
      dataDir: dir,
      registry,
      flushIntervalMs: 60_000,
      batchSize: 10,
      maxQueue: 20,
      logger: silentLogger,
    });
    const db = new DatabaseSync(join(dir, 'audit.db'));
    t.after(() => db.close());
    db.exec(
      `CREATE TRIGGER broken BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`,
    );
    let accepted = 0;
    let refused: unknown;
    for (let i = 1; i <= 30 && !refused; i++) {
      try {
        log.append(makeRecord(i));
        accepted += 1;
      } catch (err) {
        refused = err;
      }
    }
    assert.ok(refused instanceof AuditQueueFullError);
    assert.equal(accepted, 20);
    assert.equal(log.queueDepth, 20);
    assert.ok((await metric(registry, 'portcullis_audit_write_errors_total')) >= 1);
    await assert.rejects(log.flush(), /disk on fire/);
    assert.equal(log.queueDepth, 20);
    // Fixed: the queue drains in order, every accepted record once.
    db.exec('DROP TRIGGER broken');
    await log.close();
    const store = new AuditStore(join(dir, 'audit.db'), { readOnly: true });
    const ids = store.after(0, 100).map((e) => JSON.parse(e.json).requestId);
    store.close();
    assert.deepEqual(
      ids,
      Array.from({ length: 20 }, (_, i) => `req-${i + 1}`),
    );
    assert.equal(verifyAuditLog(join(dir, 'audit.db')).ok, true);
  });

  test('metrics: queue depth reflects what waits to be written', async (t) => {
    const dir = tempDir(t);
    const registry = new Registry();
    const log = AuditLog.open({ dataDir: dir, registry, flushIntervalMs: 60_000, logger: silentLogger });
    for (let i = 1; i <= 7; i++) log.append(makeRecord(i));
    assert.equal(await metric(registry, 'portcullis_audit_queue_depth'), 7);
    await log.flush();
    assert.equal(await metric(registry, 'portcullis_audit_queue_depth'), 0);
    assert.equal(await metric(registry, 'portcullis_audit_records_written_total'), 7);
    await log.close();
  });
});
