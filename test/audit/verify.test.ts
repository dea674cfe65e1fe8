import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkpointPath } from '../../src/audit/checkpoint.ts';
import { AuditIntegrityError, AuditLog } from '../../src/audit/log.ts';
import { canonicalJson, chainHash } from '../../src/audit/record.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { makeRecord, silentLogger, tempDir } from './helpers.ts';

const CLI = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));

/** A log of `n` records written through the public API, closed; returns its database path. */
async function writtenLog(dir: string, n = 10): Promise<string> {
  const log = AuditLog.open({ dataDir: dir, logger: silentLogger, batchSize: 4 });
  for (let i = 1; i <= n; i++) log.append(makeRecord(i));
  await log.close();
  return join(dir, 'audit.db');
}

/** Tampers with the SQLite file directly, as someone with file access would (dropping the guards first). */
function tamper(dbPath: string, sql: string): void {
  const db = new DatabaseSync(dbPath);
  try {
    db.exec('DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;');
    db.exec(sql);
  } finally {
    db.close();
  }
}

describe('audit verify', () => {
  test('passes on a clean log', async (t) => {
    const db = await writtenLog(tempDir(t));
    const r = verifyAuditLog(db);
    assert.equal(r.problem, undefined);
    assert.equal(r.ok, true);
    assert.equal(r.records, 10);
    assert.equal(r.lastSeq, 10);
    assert.equal(r.checkpoint?.seq, 10);
  });

  test('passes on an empty log', async (t) => {
    const dir = tempDir(t);
    await AuditLog.open({ dataDir: dir, logger: silentLogger }).close();
    assert.equal(verifyAuditLog(join(dir, 'audit.db')).ok, true);
  });

  test('an edited record: hash mismatch at its seq', async (t) => {
    const db = await writtenLog(tempDir(t));
    tamper(
      db,
      `UPDATE audit_log SET record = replace(record, '"costUsd":0.0042', '"costUsd":0.0001') WHERE seq = 4`,
    );
    const r = verifyAuditLog(db);
    assert.equal(r.ok, false);
    assert.deepEqual([r.problem?.seq, r.problem?.kind], [4, 'edited']);
    assert.match(r.problem!.reason, /hash mismatch/);
  });

  test('an edited indexed column is caught although the JSON is intact', async (t) => {
    const db = await writtenLog(tempDir(t));
    tamper(db, `UPDATE audit_log SET key_id = 'someone-else' WHERE seq = 2`);
    const r = verifyAuditLog(db);
    assert.deepEqual([r.ok, r.problem?.seq, r.problem?.kind], [false, 2, 'edited']);
    assert.match(r.problem!.reason, /key_id/);
  });

  test('a deleted record: sequence gap at the first missing seq', async (t) => {
    const db = await writtenLog(tempDir(t));
    tamper(db, 'DELETE FROM audit_log WHERE seq IN (6, 7)');
    const r = verifyAuditLog(db);
    assert.deepEqual([r.ok, r.problem?.seq, r.problem?.kind], [false, 6, 'deleted']);
    assert.match(r.problem!.reason, /sequence gap/);
  });

  test('deleting the first record is caught', async (t) => {
    const db = await writtenLog(tempDir(t));
    tamper(db, 'DELETE FROM audit_log WHERE seq = 1');
    const r = verifyAuditLog(db);
    assert.deepEqual([r.ok, r.problem?.seq, r.problem?.kind], [false, 1, 'deleted']);
  });

  test('reordered records: prev-hash mismatch', async (t) => {
    const db = await writtenLog(tempDir(t));
    tamper(
      db,
      'UPDATE audit_log SET seq = -1 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 5; ' +
        'UPDATE audit_log SET seq = 5 WHERE seq = -1;',
    );
    const r = verifyAuditLog(db);
    assert.deepEqual([r.ok, r.problem?.seq, r.problem?.kind], [false, 3, 'reordered']);
    assert.match(r.problem!.reason, /prev-hash mismatch/);
  });

  test('a record rewritten with a recomputed hash breaks the link to the next one', async (t) => {
    const db = await writtenLog(tempDir(t));
    const conn = new DatabaseSync(db);
    const row = conn.prepare('SELECT prev_hash, record FROM audit_log WHERE seq = 5').get() as {
      prev_hash: string;
      record: string;
    };
    conn.close();
    const forged = canonicalJson({ ...JSON.parse(row.record), costUsd: 0 });
    tamper(
      db,
      `UPDATE audit_log SET record = '${forged}', hash = '${chainHash(row.prev_hash, forged)}' WHERE seq = 5`,
    );
    const r = verifyAuditLog(db);
    assert.deepEqual([r.ok, r.problem?.seq, r.problem?.kind], [false, 6, 'reordered']);
  });

  test('a truncated tail: the table ends before the checkpoint', async (t) => {
    const db = await writtenLog(tempDir(t));
    tamper(db, 'DELETE FROM audit_log WHERE seq > 7');
    const r = verifyAuditLog(db);
    assert.deepEqual([r.ok, r.problem?.seq, r.problem?.kind], [false, 8, 'truncated']);
    assert.equal(r.lastSeq, 7);
  });

  test('a tail rewritten with a consistent chain disagrees with the checkpoint', async (t) => {
    const db = await writtenLog(tempDir(t));
    const conn = new DatabaseSync(db);
    const rows = conn
      .prepare('SELECT seq, prev_hash, record FROM audit_log WHERE seq >= 9 ORDER BY seq')
      .all() as {
      seq: number;
      prev_hash: string;
      record: string;
    }[];
    conn.close();
    let prev = rows[0].prev_hash;
    let sql = '';
    for (const row of rows) {
      const forged = canonicalJson({ ...JSON.parse(row.record), tokens: { input: 1, output: 1, cached: 0 } });
      const hash = chainHash(prev, forged);
      sql += `UPDATE audit_log SET prev_hash = '${prev}', record = '${forged}', hash = '${hash}' WHERE seq = ${row.seq};`;
      prev = hash;
    }
    tamper(db, sql);
    const r = verifyAuditLog(db);
    assert.deepEqual([r.ok, r.problem?.seq, r.problem?.kind], [false, 10, 'checkpoint']);
  });

  test('a missing checkpoint fails a non-empty log', async (t) => {
    const db = await writtenLog(tempDir(t));
    rmSync(checkpointPath(db));
    const r = verifyAuditLog(db);
    assert.deepEqual([r.ok, r.problem?.kind], [false, 'checkpoint']);
  });

  test('an unreadable checkpoint fails verification', async (t) => {
    const db = await writtenLog(tempDir(t));
    writeFileSync(checkpointPath(db), '{"seq": "ten"}');
    const r = verifyAuditLog(db);
    assert.deepEqual([r.ok, r.problem?.kind], [false, 'checkpoint']);
    assert.match(r.problem!.reason, /unreadable/);
  });

  test('the gateway refuses to extend a truncated log, and keeps the evidence', async (t) => {
    const dir = tempDir(t);
    const db = await writtenLog(dir);
    tamper(db, 'DELETE FROM audit_log WHERE seq > 7');
    assert.throws(() => AuditLog.open({ dataDir: dir, logger: silentLogger }), AuditIntegrityError);
    assert.equal(verifyAuditLog(db).problem?.kind, 'truncated');
  });

  test('a log that was only appended to keeps verifying across restarts', async (t) => {
    const dir = tempDir(t);
    await writtenLog(dir, 5);
    await writtenLog(dir, 5);
    const r = verifyAuditLog(join(dir, 'audit.db'));
    assert.deepEqual([r.ok, r.lastSeq], [true, 10]);
  });

  test('CLI: exit 0 on a clean log, 1 with the bad seq on a tampered one', async (t) => {
    const dir = tempDir(t);
    const db = await writtenLog(dir);
    const run = () =>
      spawnSync(process.execPath, [CLI, 'audit', 'verify', '--data-dir', dir], { encoding: 'utf8' });
    const ok = run();
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /OK, 10 records/);
    tamper(db, 'DELETE FROM audit_log WHERE seq = 4');
    const bad = run();
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /FAILED at seq 4 \(deleted\)/);
    const missing = spawnSync(process.execPath, [CLI, 'audit', 'verify', '--data-dir', join(dir, 'nope')], {
      encoding: 'utf8',
    });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no audit log/);
  });
});
