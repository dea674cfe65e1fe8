// A policy change switches the audit sinks of a running log: kept sinks keep going, removed ones
// stop, and a sink's cursor outlives it, so nothing is lost or sent twice across the switch.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AuditLog } from '../../src/audit/log.ts';
import type { AuditSinkConfig } from '../../src/audit/sinks/types.ts';
import { makeRecord, silentLogger, tempDir } from './helpers.ts';

const seqs = (path: string): number[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { seq: number }).seq)
    : [];

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function appendAndDeliver(log: AuditLog, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) log.append(makeRecord(i));
  await log.flush();
  assert.equal(await log.waitForSinks(5000), true, 'the sinks caught up');
}

describe('switching audit sinks while the log runs', () => {
  const a: AuditSinkConfig = { type: 'jsonl', name: 'a', path: 'a.jsonl' };
  const b: AuditSinkConfig = { type: 'jsonl', name: 'b', path: 'b.jsonl' };

  test('an added sink starts from now; an unchanged one is not restarted', async (t) => {
    const dir = tempDir(t);
    const log = AuditLog.open({ dataDir: dir, logger: silentLogger, sinks: [a] });
    t.after(() => log.close());
    await appendAndDeliver(log, 1, 5);

    assert.deepEqual(await log.setSinks([a, b]), { started: ['b'], stopped: [] });
    assert.deepEqual(log.sinkNames(), ['a', 'b']);
    await appendAndDeliver(log, 6, 9);
    assert.deepEqual(seqs(join(dir, 'a.jsonl')), range(1, 9));
    assert.deepEqual(seqs(join(dir, 'b.jsonl')), range(6, 9));
  });

  test('a removed sink resumes where it stopped when it comes back', async (t) => {
    const dir = tempDir(t);
    const log = AuditLog.open({ dataDir: dir, logger: silentLogger, sinks: [a, b] });
    t.after(() => log.close());
    await appendAndDeliver(log, 1, 3);

    assert.deepEqual(await log.setSinks([b]), { started: [], stopped: ['a'] });
    await appendAndDeliver(log, 4, 7);
    assert.deepEqual(seqs(join(dir, 'a.jsonl')), range(1, 3), 'a stopped');

    assert.deepEqual(await log.setSinks([b, a]), { started: ['a'], stopped: [] });
    await appendAndDeliver(log, 8, 8);
    assert.deepEqual(seqs(join(dir, 'a.jsonl')), range(1, 8), 'what a missed came from SQLite');
    assert.deepEqual(seqs(join(dir, 'b.jsonl')), range(1, 8));
  });

  test('a changed sink restarts from its cursor under the new configuration', async (t) => {
    const dir = tempDir(t);
    const log = AuditLog.open({ dataDir: dir, logger: silentLogger, sinks: [a] });
    t.after(() => log.close());
    await appendAndDeliver(log, 1, 4);

    const moved: AuditSinkConfig = { ...a, path: 'siem/a.jsonl' };
    assert.deepEqual(await log.setSinks([moved]), { started: ['a'], stopped: ['a'] });
    await appendAndDeliver(log, 5, 6);
    assert.deepEqual(seqs(join(dir, 'a.jsonl')), range(1, 4));
    assert.deepEqual(seqs(join(dir, 'siem/a.jsonl')), range(5, 6), 'continued, not replayed');
  });

  test('a sink that cannot be created leaves the running ones as they were', async (t) => {
    const dir = tempDir(t);
    const log = AuditLog.open({ dataDir: dir, logger: silentLogger, sinks: [a], env: {} });
    t.after(() => log.close());
    const collector: AuditSinkConfig = {
      type: 'http',
      name: 'siem',
      url: 'http://127.0.0.1:9/ingest',
      headers: { authorization: { env: 'SIEM_TOKEN_NOT_SET' } },
    };
    await assert.rejects(log.setSinks([collector]), /SIEM_TOKEN_NOT_SET/);
    assert.deepEqual(log.sinkNames(), ['a']);
    await appendAndDeliver(log, 1, 2);
    assert.deepEqual(seqs(join(dir, 'a.jsonl')), range(1, 2));
  });

  test('a closed log refuses a switch', async (t) => {
    const dir = tempDir(t);
    const log = AuditLog.open({ dataDir: dir, logger: silentLogger, sinks: [a] });
    await log.close();
    await assert.rejects(log.setSinks([b]), /closed/);
  });
});
