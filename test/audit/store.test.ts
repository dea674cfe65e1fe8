import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { type AuditRecord, canonicalJson, GENESIS_HASH, normalizeRecord } from '../../src/audit/record.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { makeRecord, tempDir } from './helpers.ts';

describe('audit store', () => {
  test('records round-trip through SQLite unchanged', (t) => {
    const store = new AuditStore(join(tempDir(t), 'audit.db'));
    t.after(() => store.close());
    const records = [
      makeRecord(1),
      makeRecord(2, {
        keyId: null,
        owner: null,
        team: null,
        session: undefined,
        outcome: 'blocked',
        decision: {
          allow: false,
          status: 403,
          code: 'secret_in_prompt',
          reasons: ['A credential was found.'],
        },
        findings: [
          {
            rule: 'aws-access-key',
            type: 'secret',
            stage: 'request',
            path: 'messages[3].content[0].text',
            action: 'block',
            fingerprint: 'fp:9a1c',
            chain: 'default',
            step: 0,
          },
        ],
        tools: { stripped: ['Bash'], deniedCalls: ['github.delete_repo'] },
        mcp: { server: 'github', tool: 'delete_repo' },
        errorCode: 'guardrail_block',
        content: { request: 'deploy with key [REDACTED]' },
      }),
      makeRecord(3, { decision: null, outcome: 'error', errorCode: 'bad_json' }),
    ];
    const entries = store.append(records);
    assert.deepEqual(
      entries.map((e) => e.seq),
      [1, 2, 3],
    );
    const back = store.after(0, 10);
    assert.deepEqual(back, entries);
    for (const [i, e] of back.entries()) {
      assert.deepEqual(JSON.parse(e.json), JSON.parse(JSON.stringify(records[i])));
    }
    assert.equal(store.count(), 3);
    assert.deepEqual(store.last(), { seq: 3, hash: entries[2].hash });
  });

  test('each hash is sha256 of the previous hash and the canonical JSON, from a genesis value', (t) => {
    const store = new AuditStore(join(tempDir(t), 'audit.db'));
    t.after(() => store.close());
    store.append([makeRecord(1), makeRecord(2)]);
    store.append([makeRecord(3)]);
    let prev = GENESIS_HASH;
    for (const e of store.after(0, 10)) {
      assert.equal(e.prevHash, prev);
      // Recomputed the way an outside auditor would: printf '%s%s' prev json | sha256sum
      const expected = createHash('sha256').update(`${prev}${e.json}`, 'utf8').digest('hex');
      assert.equal(e.hash, expected);
      prev = e.hash;
    }
  });

  test('canonical JSON does not depend on key order', () => {
    const a = { b: 1, a: { d: [1, { z: 1, y: 2 }], c: 'x' } };
    const b = { a: { c: 'x', d: [1, { y: 2, z: 1 }] }, b: 1 };
    assert.equal(canonicalJson(a), canonicalJson(b));
    assert.equal(canonicalJson(a), '{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}');
  });

  test('the stored text of a record is its canonical JSON, optional fields included', () => {
    const full = makeRecord(7, {
      mcp: { server: 'github', tool: 'create_issue' },
      errorCode: 'upstream_timeout',
      content: { request: 'hello [REDACTED]', response: 'hi' },
      findings: [
        {
          rule: 'r',
          type: 'pii',
          stage: 'response',
          path: 'p',
          action: 'log',
          fingerprint: 'f',
          chain: 'c',
          step: 2,
        },
      ],
    });
    for (const r of [full, makeRecord(1, { decision: null, keyId: null, session: undefined })]) {
      const n = normalizeRecord(r);
      assert.equal(JSON.stringify(n), canonicalJson(n));
    }
  });

  test('fields outside the record type (such as a matched secret) are never stored', (t) => {
    const store = new AuditStore(join(tempDir(t), 'audit.db'));
    t.after(() => store.close());
    const finding = {
      rule: 'openai-key',
      type: 'secret',
      stage: 'request' as const,
      path: 'messages[0].content',
      action: 'redact' as const,
      fingerprint: 'fp:1',
      chain: 'default',
      step: 1,
      match: 'sk-proj-THISISASECRET',
    };
    const record = { ...makeRecord(1), findings: [finding], virtualKey: 'pk-live-SECRETKEY' } as AuditRecord;
    const [entry] = store.append([record]);
    assert.doesNotMatch(entry.json, /THISISASECRET|SECRETKEY/);
    assert.equal(JSON.parse(entry.json).findings[0].fingerprint, 'fp:1');
    assert.deepEqual(JSON.parse(entry.json), normalizeRecord(record));
  });

  test('the table refuses updates and deletes', (t) => {
    const path = join(tempDir(t), 'audit.db');
    const store = new AuditStore(path);
    t.after(() => store.close());
    store.append([makeRecord(1)]);
    const db = new DatabaseSync(path);
    t.after(() => db.close());
    assert.throws(() => db.exec(`UPDATE audit_log SET model = 'x'`), /append-only/);
    assert.throws(() => db.exec('DELETE FROM audit_log'), /append-only/);
    assert.equal(store.count(), 1);
  });

  test('query filters by key, team, model, outcome, decision code, request id and time', (t) => {
    const store = new AuditStore(join(tempDir(t), 'audit.db'));
    t.after(() => store.close());
    const deny = { allow: false, status: 403, code: 'model_not_allowed', reasons: ['no'] };
    store.append([
      makeRecord(0),
      makeRecord(1, { keyId: 'bob-ci', owner: 'bob', team: 'data' }),
      makeRecord(2, { model: 'gpt-4o', provider: 'openai', outcome: 'denied', decision: deny }),
      makeRecord(3, { keyId: 'bob-ci', team: 'data', outcome: 'blocked' }),
      makeRecord(4),
    ]);
    const reqs = (f: Parameters<AuditStore['query']>[0]) =>
      store.query(f).map((e) => JSON.parse(e.json).requestId as string);
    assert.deepEqual(reqs({ keyId: 'bob-ci' }), ['req-3', 'req-1']);
    assert.deepEqual(reqs({ team: 'data', order: 'asc' }), ['req-1', 'req-3']);
    assert.deepEqual(reqs({ owner: 'bob' }), ['req-1']);
    assert.deepEqual(reqs({ model: 'gpt-4o' }), ['req-2']);
    assert.deepEqual(reqs({ provider: 'openai' }), ['req-2']);
    assert.deepEqual(reqs({ outcome: 'denied' }), ['req-2']);
    assert.deepEqual(reqs({ decisionCode: 'model_not_allowed' }), ['req-2']);
    assert.deepEqual(reqs({ requestId: 'req-4' }), ['req-4']);
    assert.deepEqual(reqs({ keyId: 'bob-ci', outcome: 'blocked' }), ['req-3']);
    const t0 = Date.UTC(2025, 5, 1);
    assert.deepEqual(reqs({ sinceMs: t0 + 1000, untilMs: t0 + 3000 }), ['req-2', 'req-1']);
    assert.deepEqual(reqs({ limit: 2 }), ['req-4', 'req-3']);
    assert.deepEqual(reqs({ keyId: 'nobody' }), []);
  });
});
