import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { AuditRecord } from '../../src/audit/record.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { buildSnapshot } from '../../src/policy/build-snapshot.ts';
import {
  type ReplayResult,
  readAuditRecords,
  replayMarkdown,
  replayRecords,
} from '../../src/policyci/replay.ts';
import { openSides } from '../../src/policyci/sides.ts';
import { policyRepo, runCli } from './helpers.ts';

const HOUR = 3_600_000;
let n = 0;

function call(overrides: Partial<AuditRecord>, agoMs = HOUR): AuditRecord {
  n++;
  return {
    requestId: `req-${n}`,
    time: new Date(Date.now() - agoMs).toISOString(),
    keyId: 'alice-principal',
    owner: 'alice@acme.example',
    team: 'platform',
    surface: 'openai.chat',
    provider: 'openai',
    model: 'gpt-4.1',
    stream: false,
    tokens: { input: 1200, output: 300, cached: 0 },
    costUsd: 0.0048,
    outcome: 'allowed',
    decision: { allow: true, status: 200, code: 'ok', reasons: [] },
    findings: [],
    tools: { stripped: [], deniedCalls: [] },
    latency: { totalMs: 900, upstreamMs: 880, gatewayMs: 20 },
    policyRevision: 'base',
    instance: 'gw-1',
    ...overrides,
  };
}

/** base: the example policy; head: gpt-4.1 taken from alice, carol disabled. Plus an audit log. */
function fixture(t: { after(fn: () => void): void }) {
  const repo = policyRepo(t);
  const base = repo.commit('Example policy');
  repo.edit('keys/alice-principal.yaml', (s) => s.replace('o3, gpt-4.1, ', 'o3, '));
  repo.edit('keys/app-dev.yaml', (s) =>
    s.replace('  providers: [anthropic, google]', '  providers: [anthropic, google]\n  disabled: true'),
  );
  const head = repo.commit('Retire gpt-4.1 for alice; carol on leave');
  const data = mkdtempSync(join(tmpdir(), 'portcullis-replay-data-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const store = new AuditStore(join(data, 'audit.db'));
  store.append([
    call({}),
    call({}, 2 * HOUR),
    call({ model: 'gpt-5-mini' }),
    call({
      keyId: 'carol-dev',
      owner: 'carol@acme.example',
      team: 'app-dev',
      surface: 'anthropic.messages',
      provider: 'anthropic',
      model: 'claude-haiku-4-5',
    }),
    call({
      keyId: 'bob-dev',
      owner: 'bob@acme.example',
      team: 'app-dev',
      surface: 'anthropic.messages',
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
      tools: { stripped: ['Bash'], deniedCalls: [] },
      facts: {
        tools: ['Bash', 'Read'],
        sizes: { bodyBytes: 4000, estimatedInputTokens: 1000, maxOutputTokens: 8000 },
        authStatus: 'ok',
      },
    }),
    call({
      keyId: null,
      owner: null,
      team: null,
      decision: { allow: false, status: 401, code: 'key_missing', reasons: [] },
    }),
    // A month old: outside the default 7-day window.
    call({}, 30 * 24 * HOUR),
  ]);
  store.close();
  return { repo, base, head, data };
}

describe('policy replay', () => {
  test('reports the calls whose decision changes, grouped by key and reason', async (t) => {
    const { repo, base, head, data } = fixture(t);
    const sides = await openSides(base, head, repo.policyDir);
    t.after(() => sides.close());
    const records = readAuditRecords(data, Date.now() - 7 * 24 * HOUR);
    assert.equal(records.length, 6);
    assert.deepEqual(records[4].facts?.tools, ['Bash', 'Read'], 'request facts survive the audit store');
    const result: ReplayResult = replayRecords(
      records,
      await buildSnapshot({ dir: sides.base.dir, source: { revision: base, dir: sides.base.dir } }),
      await buildSnapshot({ dir: sides.head.dir, source: { revision: head, dir: sides.head.dir } }),
    );
    assert.equal(result.replayed, 6);
    assert.equal(result.changed, 3);
    assert.equal(result.newlyDenied, 3);
    assert.equal(result.newlyAllowed, 0);
    assert.deepEqual(
      result.groups.map((g) => [g.keyId, g.from.status, g.to.status, g.to.code, g.count]),
      [
        ['alice-principal', 200, 403, 'model_not_allowed', 2],
        ['carol-dev', 200, 401, 'key_disabled', 1],
      ],
    );
    assert.deepEqual(result.groups[0].models, { 'gpt-4.1': 2 });
    assert.match(result.groups[0].to.reasons[0], /may not use model gpt-4.1/);

    const md = replayMarkdown(result, '7d');
    assert.match(
      md,
      /\*\*3 of 6 recorded calls since 7d would be decided differently: 3 newly denied, 0 newly allowed\.\*\*/,
    );
    assert.match(
      md,
      /\| alice-principal \| allowed \(200\) \| denied 403 model_not_allowed \| 2 \| gpt-4\.1 \(2\) \|/,
    );
    assert.match(md, /Budget and rate-limit usage is not replayed/);
  });

  test('the same revision on both sides changes nothing; declared tools are replayed from facts', async (t) => {
    const { repo, base, head, data } = fixture(t);
    const sides = await openSides(base, base, repo.policyDir);
    t.after(() => sides.close());
    const snap = await buildSnapshot({
      dir: sides.base.dir,
      source: { revision: base, dir: sides.base.dir },
    });
    const result = replayRecords(readAuditRecords(join(data, 'audit.db')), snap, snap);
    assert.equal(result.replayed, 7);
    assert.equal(result.changed, 0);
    assert.match(replayMarkdown(result), /7 recorded calls replayed; no decision changes/);

    // Un-scoping bob strips nothing any more: a change only the recorded tools reveal.
    repo.edit('keys/app-dev.yaml', (s) => s.replace('  toolScope: read-only\n', ''));
    const unscoped = repo.commit('Bob needs a shell');
    const sides2 = await openSides(head, unscoped, repo.policyDir);
    t.after(() => sides2.close());
    const r2 = replayRecords(
      readAuditRecords(data),
      await buildSnapshot({ dir: sides2.base.dir, source: { revision: head, dir: sides2.base.dir } }),
      await buildSnapshot({ dir: sides2.head.dir, source: { revision: unscoped, dir: sides2.head.dir } }),
    );
    assert.deepEqual(
      r2.groups.map((g) => [g.keyId, g.from.stripTools, g.to.stripTools, g.count]),
      [['bob-dev', ['Bash'], [], 1]],
    );
  });

  test('CLI: --audit with a data dir, git revisions, JSON output, --since', async (t) => {
    const { repo, base, head, data } = fixture(t);
    const json = await runCli(
      ['policy', 'replay', '--audit', data, '--base', base, '--head', head, '--format', 'json'],
      repo.root,
    );
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.changed, 3);
    assert.equal(parsed.groups[0].keyId, 'alice-principal');

    const all = await runCli(
      [
        'policy',
        'replay',
        '--audit',
        join(data, 'audit.db'),
        '--base',
        base,
        '--head',
        head,
        '--since',
        'all',
        '--fail-on-change',
      ],
      repo.root,
    );
    assert.equal(all.code, 1, 'a changed decision fails with --fail-on-change');
    assert.match(all.stdout, /\*\*4 of 7 recorded calls would be decided differently/);

    const missing = await runCli(['policy', 'replay', '--audit', data], repo.root);
    assert.equal(missing.code, 2);
  });
});
