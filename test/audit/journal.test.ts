// Every record `append` took survives `kill -9` of the process: the next open commits what the journal
// holds and the database does not, once, in order, and the chain verifies. A provisional record stands
// in for a call whose final record never came.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { afterJournalWrite, commitJournals } from '../../src/audit/group-commit.ts';
import { AuditJournal } from '../../src/audit/journal.ts';
import { AuditLog } from '../../src/audit/log.ts';
import { type AuditRecord, normalizeRecord } from '../../src/audit/record.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';
import { makeRecord, silentLogger, tempDir } from './helpers.ts';

/** A process that appends records as fast as it can and reports each count it reached on stdout. */
const APPENDER = `
import { AuditLog } from ${JSON.stringify(join(REPO_ROOT, 'src/audit/log.ts'))};
import { makeRecord } from ${JSON.stringify(join(REPO_ROOT, 'test/audit/helpers.ts'))};
const log = AuditLog.open({ dataDir: process.argv[2], logger: { warn() {}, error() {} } });
log.appendProvisional(makeRecord(0, { requestId: 'only-provisional', outcome: 'aborted' }));
log.appendProvisional(makeRecord(0, { requestId: 'req-1', outcome: 'aborted' }));
let i = 0;
const burst = () => {
  for (let j = 0; j < 50; j++) log.append(makeRecord(++i));
  process.stdout.write(i + '\\n');
  setImmediate(burst);
};
burst();
`;

test('kill -9 while appending loses no record that append took', async (t) => {
  const dir = tempDir(t);
  const script = join(dir, 'appender.ts');
  writeFileSync(script, APPENDER);
  const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let reached = 0;
  child.stdout.on('data', (c: Buffer) => {
    const lines = String(c).trim().split('\n');
    reached = Number(lines[lines.length - 1]);
  });
  while (reached < 3000) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));

  const store = new AuditStore(join(dir, 'audit.db'), { readOnly: true });
  const before = store.count();
  store.close();
  const log = AuditLog.open({ dataDir: dir, logger: silentLogger });
  await log.close();

  const after = new AuditStore(join(dir, 'audit.db'), { readOnly: true });
  try {
    const ids = after
      .query({ order: 'asc' })
      .map((e) => (JSON.parse(e.json) as { requestId: string }).requestId);
    assert.ok(before < reached, `the crash left records uncommitted (${before} of ${reached})`);
    for (let i = 1; i <= reached; i++) assert.ok(ids.includes(`req-${i}`), `req-${i} is in the log`);
    assert.equal(new Set(ids).size, ids.length, 'no record twice');
    assert.ok(ids.includes('only-provisional'), 'a call with only a provisional record has it');
    assert.equal(
      ids.filter((id) => id === 'req-1').length,
      1,
      'a provisional record gives way to the final one',
    );
  } finally {
    after.close();
  }
  const report = verifyAuditLog(join(dir, 'audit.db'));
  assert.equal(report.ok, true, JSON.stringify(report));
  assert.deepEqual(
    existsSync(join(dir, 'audit.db.journal')) ? readdirSync(join(dir, 'audit.db.journal')) : [],
    [],
  );
});

test("another process's journal: what the log lacks is taken once, the rest is recognised, the journal goes", async (t) => {
  const dir = tempDir(t);
  const log = AuditLog.open({ dataDir: dir, logger: silentLogger });
  // What a cluster worker journaled (src/cluster/worker-audit.ts) before it was killed.
  const workerDir = join(dir, 'audit.db.workers', '4242');
  const journal = new AuditJournal(workerDir);
  const delivered = makeRecord(1, { instance: 'gw:4242' });
  const finalOnly = makeRecord(2, { instance: 'gw:4242', content: { request: 'hello' } });
  const provisionalOnly = makeRecord(3, { instance: 'gw:4242', outcome: 'aborted' });
  const provisionalDelivered = makeRecord(4, { instance: 'gw:4242', outcome: 'aborted' });
  const line = (r: AuditRecord) => JSON.stringify(normalizeRecord(r));
  journal.writeFinal(line(delivered), delivered.requestId, 1, false);
  journal.writeFinal(line(finalOnly), finalOnly.requestId, 2, true);
  journal.writeProvisional(line(provisionalOnly), provisionalOnly.requestId);
  journal.writeProvisional(line(provisionalDelivered), provisionalDelivered.requestId);
  journal.close(false);
  // The primary had these (the final of req-4 differs from its provisional record: usage settled).
  log.append(delivered);
  log.append({ ...provisionalDelivered, outcome: 'allowed', costUsd: 0.5 });

  assert.equal(await log.recoverJournal(workerDir), 2);
  assert.equal(existsSync(workerDir), false, 'the journal is deleted');
  assert.equal(await log.recoverJournal(workerDir), 0, 'a second look finds nothing');
  await log.close();

  const store = new AuditStore(join(dir, 'audit.db'), { readOnly: true });
  try {
    const records = store.query({ order: 'asc' }).map((e) => JSON.parse(e.json) as AuditRecord);
    assert.deepEqual(
      records.map((r) => [r.requestId, r.outcome]),
      [
        ['req-1', 'allowed'],
        ['req-4', 'allowed'],
        ['req-2', 'allowed'],
        ['req-3', 'aborted'],
      ],
    );
    assert.deepEqual(records[2].content, { request: 'hello' });
  } finally {
    store.close();
  }
  assert.equal(verifyAuditLog(join(dir, 'audit.db')).ok, true);
});

test('provisional lines of one turn reach the file in one group write, before a final line and before what waits on them', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'journal', '1');
  const journal = new AuditJournal(join(dir, 'journal'));
  t.after(() => journal.close(false));
  const line = (r: AuditRecord) => JSON.stringify(normalizeRecord(r));
  const kinds = () =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(0, 8));

  journal.writeProvisional(line(makeRecord(1)), 'req-1');
  journal.writeProvisional(line(makeRecord(2)), 'req-2');
  assert.deepEqual(kinds(), [], 'held until the turn ends');
  const released: string[] = [];
  assert.equal(
    afterJournalWrite({ journalWritten: () => released.push(kinds().join()) }),
    true,
    'a response ending now waits',
  );
  commitJournals();
  assert.deepEqual(released, ['P {"cost,P {"cost'], 'released after both lines are in the file');
  assert.equal(afterJournalWrite({ journalWritten: () => assert.fail('nothing was held') }), false);

  journal.writeProvisional(line(makeRecord(3)), 'req-3');
  journal.writeFinal(line(makeRecord(4)), 'req-4', 1, false);
  assert.deepEqual(kinds().slice(2), ['P {"cost', 'F {"cost'], 'a held line goes before a final one');
});

test('a segment is kept while a provisional record in it waits for its final one, and let go ten minutes on', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.UTC(2026, 0, 1) });
  const dir = tempDir(t);
  const files = () => readdirSync(join(dir, 'journal')).sort();
  const journal = new AuditJournal(join(dir, 'journal'), 600);
  t.after(() => journal.close(false));
  const line = (r: AuditRecord) => JSON.stringify(normalizeRecord(r));
  journal.writeProvisional(line(makeRecord(0)), 'orphan');
  journal.writeProvisional(line(makeRecord(1)), 'req-1');
  journal.flushPending();
  // Enough final records to close the first segment and start others.
  for (let i = 2; i <= 6; i++) journal.writeFinal(line(makeRecord(i)), `req-${i}`, i - 1, false);
  assert.ok(files().length > 1, 'the first segment is closed');
  journal.writeFinal(line(makeRecord(1)), 'req-1', 6, false);
  journal.committed(6);
  assert.equal(files()[0], '1', 'the orphan still pins its segment');
  t.mock.timers.tick(10 * 60_000 + 1);
  journal.committed(6);
  assert.notEqual(files()[0], '1', 'an orphan older than ten minutes no longer does');
});
