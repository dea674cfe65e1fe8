// A call's final record is stored as the text its own serialization would give, also when the log
// restates it from the provisional record journaled before its response ended (record.ts
// restatedJson): the hash chain and every reader depend on that text being canonical.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AuditLog } from '../../src/audit/log.ts';
import { type AuditRecord, normalizeRecord, restatedJson } from '../../src/audit/record.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { makeRecord, silentLogger, tempDir } from './helpers.ts';

const canonical = (r: AuditRecord) => JSON.stringify(normalizeRecord(r));
const written = (r: AuditRecord) => {
  const normalized = normalizeRecord(r);
  return { normalized, json: JSON.stringify(normalized) };
};

const budget = {
  reservedUsd: 0.25,
  overshootUsd: 0.01,
  alerts: [{ budget: 'team:platform:monthly', thresholdPct: 80 }],
};

const finals: [string, AuditRecord][] = [
  ['with a settled budget', makeRecord(1, { budget })],
  ['with only a reservation', makeRecord(2, { budget: { reservedUsd: 0.5 } })],
  ['without a budget', makeRecord(3)],
  [
    'with a person, an MCP tool and an error',
    makeRecord(4, {
      budget: { reservedUsd: 0.1, warnings: ['close to the limit'] },
      person: { idp: 'acme', subject: 's-1', kind: 'jwt', groups: ['dev'], email: 'a@acme.example' },
      mcp: { server: 'github', tool: 'search' },
      errorCode: 'upstream_502',
      outcome: 'error',
    }),
  ],
];

describe('a final record restated from its provisional record', () => {
  for (const [name, final] of finals) {
    test(`${name}: the same text as serializing it`, () => {
      const { budget: _, ...provisional } = final;
      const json = restatedJson(written(provisional), normalizeRecord(final));
      assert.equal(json, canonical(final));
    });
  }

  test('anything but the budget differing (an abort after the last byte): not restated', () => {
    const provisional = makeRecord(5);
    const aborted = makeRecord(5, { outcome: 'aborted', errorCode: 'client_closed', budget });
    assert.equal(restatedJson(written(provisional), normalizeRecord(aborted)), undefined);
    const moreTokens = makeRecord(5, { tokens: { input: 1005, output: 201, cached: 50 } });
    assert.equal(restatedJson(written(provisional), normalizeRecord(moreTokens)), undefined);
    const extraField = makeRecord(5, { session: undefined });
    assert.equal(restatedJson(written(extraField), normalizeRecord(provisional)), undefined);
  });

  test('a provisional record that had a budget, or a final one with content: not restated', () => {
    const provisional = makeRecord(6, { budget: { reservedUsd: 0, warnings: ['w'] } });
    assert.equal(restatedJson(written(provisional), normalizeRecord(makeRecord(6, { budget }))), undefined);
    const withContent = makeRecord(6, { content: { request: 'hi' } });
    assert.equal(restatedJson(written(makeRecord(6)), normalizeRecord(withContent)), undefined);
  });

  test('through the log: what is stored is each final record, chained and verified', async (t) => {
    const dir = tempDir(t);
    const log = AuditLog.open({ dataDir: dir, logger: silentLogger });
    const expected: string[] = [];
    for (const [, final] of finals) {
      const { budget: _, ...provisional } = final;
      log.appendProvisional(provisional);
      log.append(final);
      expected.push(canonical(final));
    }
    // Its provisional record differs by more than the budget: serialized on its own.
    log.appendProvisional(makeRecord(9));
    const aborted = makeRecord(9, { outcome: 'aborted', errorCode: 'client_closed' });
    log.append(aborted);
    expected.push(canonical(aborted));
    await log.close();
    const db = join(dir, 'audit.db');
    const store = new AuditStore(db, { readOnly: true });
    const stored = store.after(0, 100).map((e) => e.json);
    store.close();
    assert.deepEqual(stored, expected);
    assert.equal(verifyAuditLog(db).ok, true);
  });
});
