import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AuditLog } from '../../src/audit/log.ts';
import { parseTimeArg } from '../../src/audit/query.ts';
import { makeRecord, silentLogger, tempDir } from './helpers.ts';

const CLI = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));

function cli(...args: string[]) {
  return spawnSync(process.execPath, [CLI, 'audit', 'query', ...args], { encoding: 'utf8' });
}

const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();

async function seed(dir: string): Promise<void> {
  const log = AuditLog.open({ dataDir: dir, logger: silentLogger });
  const deny = { allow: false, status: 403, code: 'model_not_allowed', reasons: ['Model not allowed.'] };
  log.append(makeRecord(1, { time: hoursAgo(72) }));
  log.append(makeRecord(2, { time: hoursAgo(30), keyId: 'bob-ci', team: 'data' }));
  log.append(makeRecord(3, { time: hoursAgo(5), model: 'gpt-4o', outcome: 'denied', decision: deny }));
  log.append(makeRecord(4, { time: hoursAgo(1), keyId: 'bob-ci', team: 'data', outcome: 'blocked' }));
  await log.close();
}

const requestIds = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l).record.requestId);

describe('audit query', () => {
  test('time arguments: ISO-8601 and relative durations', () => {
    const now = Date.UTC(2025, 5, 10, 12);
    assert.equal(parseTimeArg('24h', now), now - 86_400_000);
    assert.equal(parseTimeArg('30m', now), now - 1_800_000);
    assert.equal(parseTimeArg('7d', now), now - 7 * 86_400_000);
    assert.equal(parseTimeArg('2025-06-01', now), Date.UTC(2025, 5, 1));
    assert.equal(parseTimeArg('2025-06-01T08:30:00Z', now), Date.UTC(2025, 5, 1, 8, 30));
    assert.throws(() => parseTimeArg('yesterday', now), /ISO-8601/);
  });

  test('CLI --json filters by key, team, model, outcome, decision and time', async (t) => {
    const dir = tempDir(t);
    await seed(dir);
    const q = (...args: string[]) => {
      const r = cli('--data-dir', dir, '--json', ...args);
      assert.equal(r.status, 0, r.stderr);
      return requestIds(r.stdout);
    };
    assert.deepEqual(q(), ['req-4', 'req-3', 'req-2', 'req-1']);
    assert.deepEqual(q('--key', 'bob-ci'), ['req-4', 'req-2']);
    assert.deepEqual(q('--team', 'data', '--outcome', 'blocked'), ['req-4']);
    assert.deepEqual(q('--model', 'gpt-4o'), ['req-3']);
    assert.deepEqual(q('--decision', 'model_not_allowed'), ['req-3']);
    assert.deepEqual(q('--since', '24h'), ['req-4', 'req-3']);
    assert.deepEqual(q('--since', '48h', '--until', '3h'), ['req-3', 'req-2']);
    assert.deepEqual(q('--limit', '1'), ['req-4']);
    assert.deepEqual(q('--oldest-first', '--limit', '2'), ['req-1', 'req-2']);
    const line = JSON.parse(cli('--data-dir', dir, '--json', '--limit', '1').stdout);
    assert.deepEqual(Object.keys(line), ['seq', 'prevHash', 'hash', 'record']);
    assert.equal(line.seq, 4);
  });

  test('CLI table: a header and one aligned row per record', async (t) => {
    const dir = tempDir(t);
    await seed(dir);
    const r = cli('--data-dir', dir, '--key', 'bob-ci');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^\s*SEQ\s+TIME\s+KEY\s+TEAM\s+MODEL\s+OUTCOME/);
    assert.match(lines[1], /bob-ci\s+data\s+claude-sonnet-4\s+blocked/);
    const col = lines[0].indexOf('MODEL');
    assert.ok(
      lines.every((l) => l.slice(col).startsWith('claude-sonnet-4') || l.slice(col).startsWith('MODEL')),
    );
  });

  test('CLI rejects bad arguments with exit 2', async (t) => {
    const dir = tempDir(t);
    await seed(dir);
    assert.equal(cli('--data-dir', dir, '--outcome', 'maybe').status, 2);
    assert.equal(cli('--data-dir', dir, '--since', 'yesterday').status, 2);
    assert.equal(cli('--data-dir', dir, '--limit', '-3').status, 2);
    assert.equal(cli('--data-dir', dir, '--colour').status, 2);
  });
});
