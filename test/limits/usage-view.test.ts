import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  formatUsageView,
  planLimits,
  SqliteCounterStore,
  usageView,
  withWorstCase,
} from '../../src/limits/index.ts';

test('the usage view shows each budget and rate limit, spent and left, without holding anything', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-usage-'));
  const store = new SqliteCounterStore({ path: join(dir, 'limits.sqlite') });
  try {
    const now = new Date('2026-11-24T12:00:00Z');
    const plan = planLimits({
      key: {
        id: 'dana',
        keyHash: `sha256:${'12'.repeat(32)}`,
        budgets: [{ name: 'opus', period: 'monthly', amountUsd: 20, models: ['claude-opus-*'] }],
        rateLimits: { requestsPerMinute: 30, maxInFlight: 2 },
      },
      teams: [{ id: 'app-dev', budgets: [{ period: 'daily', amountUsd: 5, enforcement: 'soft' }] }],
      budgetTimezone: 'Europe/Berlin',
      worstCase: { costMicroUsd: 0, tokens: 0 },
      now,
    });
    const call = withWorstCase(
      plan,
      { costMicroUsd: 2_000_000, tokens: 0, model: 'claude-opus-4-8' },
      now.getTime(),
    );
    const r = store.reserve({ requestId: randomUUID(), counters: call.counters, now });
    assert.ok(r.reservationId);
    await store.settle(r.reservationId, { costMicroUsd: 1_250_000, tokens: 0 });

    const view = await usageView(store, plan, now);
    assert.deepEqual(
      view.budgets.map((b) => [b.id, b.spentUsd, b.remainingUsd, b.percent, b.enforcement]),
      [
        ['key:dana:opus', 1.25, 18.75, 6.3, 'hard'],
        ['team:app-dev:daily', 1.25, 3.75, 25, 'soft'],
      ],
    );
    assert.equal(view.budgets[1].resetsAt, '2026-11-25T00:00:00+01:00');
    assert.deepEqual(
      view.rateLimits.map((l) => [l.kind, l.used, l.remaining]),
      [
        ['requests_per_minute', 1, 29],
        ['requests_in_flight', 0, 2],
      ],
    );
    const again = await usageView(store, plan, now);
    assert.equal(again.rateLimits[0].used, 1, 'looking counted no request');
    const text = formatUsageView(view);
    assert.match(
      text,
      /key dana monthly \[claude-opus-\*\]: \$1\.25 of \$20\.00 spent \(6\.3%\), \$18\.75 left/,
    );
    assert.match(
      text,
      /team app-dev daily: \$1\.25 of \$5\.00 spent \(25%\), \$3\.75 left, resets 2026-11-25T00:00:00\+01:00 \(soft\)/,
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
