import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AuditLog, type AuditLogOptions } from '../../src/audit/log.ts';
import type { AuditEntry } from '../../src/audit/record.ts';
import { JsonlSink } from '../../src/audit/sinks/jsonl.ts';
import { makeRecord, silentLogger, tempDir } from './helpers.ts';

const lines = (path: string) =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { seq: number; hash: string; record: { requestId: string } })
    : [];

async function writeThroughLog(dir: string, from: number, to: number, sinks: AuditLogOptions['sinks']) {
  const log = AuditLog.open({ dataDir: dir, logger: silentLogger, sinks });
  for (let i = from; i <= to; i++) log.append(makeRecord(i));
  await log.close();
}

const entry = (seq: number): AuditEntry => ({
  seq,
  prevHash: 'p',
  hash: `h${seq}`,
  json: JSON.stringify({ requestId: `req-${seq}` }),
});

describe('JSONL sink', () => {
  test('every committed record lands in the file once, in order, with its chain fields', async (t) => {
    const dir = tempDir(t);
    await writeThroughLog(dir, 1, 25, [{ type: 'jsonl', path: 'siem/audit.jsonl' }]);
    const got = lines(join(dir, 'siem/audit.jsonl'));
    assert.deepEqual(
      got.map((l) => l.seq),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    assert.equal(got[0].record.requestId, 'req-1');
    assert.match(got[0].hash, /^[0-9a-f]{64}$/);
  });

  test('rotates by size and keeps only `keep` old files', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'audit.jsonl');
    const maxBytes = 3000; // about three records per file
    await writeThroughLog(dir, 1, 40, [{ type: 'jsonl', path, maxBytes, keep: 2 }]);
    assert.ok(existsSync(`${path}.1`) && existsSync(`${path}.2`));
    assert.equal(existsSync(`${path}.3`), false);
    for (const f of [path, `${path}.1`, `${path}.2`]) assert.ok(statSync(f).size <= maxBytes, f);
    const seqs = [...lines(`${path}.2`), ...lines(`${path}.1`), ...lines(path)].map((l) => l.seq);
    // Contiguous and ending at the last record: rotation lost nothing it kept, and reordered nothing.
    assert.equal(seqs[seqs.length - 1], 40);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => seqs[0] + i),
    );
    assert.ok(seqs[0] > 1, 'the oldest files were removed');
  });

  test('rotates when the UTC day changes', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'audit.jsonl');
    let now = new Date('2025-06-01T23:59:00Z');
    const sink = new JsonlSink({ path, daily: true, keep: 3, now: () => now });
    await sink.deliver([entry(1), entry(2)]);
    now = new Date('2025-06-02T00:00:30Z');
    await sink.deliver([entry(3)]);
    await sink.deliver([entry(4)]);
    await sink.close();
    assert.deepEqual(
      lines(`${path}.1`).map((l) => l.seq),
      [1, 2],
    );
    assert.deepEqual(
      lines(path).map((l) => l.seq),
      [3, 4],
    );
  });

  test('after a crash it cuts a half-written line and resends from SQLite, without duplicates', async (t) => {
    const dir = tempDir(t);
    const sink = { type: 'jsonl' as const, path: 'audit.jsonl' };
    await writeThroughLog(dir, 1, 5, [sink]);
    // Records 6-8 reach SQLite but not the file (the process died in between), and the file
    // ends in a torn line.
    await writeThroughLog(dir, 6, 8, []);
    appendFileSync(join(dir, 'audit.jsonl'), '{"seq":6,"prevHash":"ab');
    await writeThroughLog(dir, 9, 10, [sink]);
    assert.deepEqual(
      lines(join(dir, 'audit.jsonl')).map((l) => l.seq),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
  });

  test('a sink added to an existing log starts at its head instead of replaying history', async (t) => {
    const dir = tempDir(t);
    await writeThroughLog(dir, 1, 5, []);
    await writeThroughLog(dir, 6, 7, [{ type: 'jsonl', path: 'audit.jsonl' }]);
    assert.deepEqual(
      lines(join(dir, 'audit.jsonl')).map((l) => l.seq),
      [6, 7],
    );
  });
});
