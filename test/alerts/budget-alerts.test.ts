import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BudgetAlerts } from '../../src/alerts/budget-alerts.ts';
import { AlertDispatcher, type DeliveryResult } from '../../src/alerts/dispatcher.ts';
import { SIGNATURE_HEADER } from '../../src/alerts/format.ts';
import type { BudgetAlert } from '../../src/alerts/types.ts';
import {
  type BudgetPolicy,
  type CounterStore,
  planLimits,
  RedisCounterStore,
  SqliteCounterStore,
  withWorstCase,
} from '../../src/limits/index.ts';
import { RedisServer, redisAvailable } from '../limits/redis-server.ts';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A webhook receiver on loopback; `answer` picks each response's status (default 200). */
async function receiver(answer: (n: number) => number = () => 200) {
  const received: Received[] = [];
  let n = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      n++;
      const status = answer(n);
      if (status === 200) received.push({ headers: req.headers, body });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    attempts: () => n,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const keyHash = `sha256:${'ab'.repeat(32)}`;
const now = new Date('2026-11-24T12:00:00Z');

/** One call of `costUsd` on a $10 budget: reserve, settle, then the alert check, as the gateway runs it. */
async function spend(store: CounterStore, alerts: BudgetAlerts, budgets: BudgetPolicy[], costUsd: number) {
  const base = planLimits({
    key: { id: 'dana', keyHash, budgets },
    teams: [],
    worstCase: { costMicroUsd: 0, tokens: 0 },
    now,
  });
  const costMicroUsd = Math.round(costUsd * 1e6);
  const plan = withWorstCase(base, { costMicroUsd, tokens: 0, model: 'm' }, now.getTime());
  const reserved = await store.reserve({ requestId: randomUUID(), counters: plan.counters, now });
  assert.ok(reserved.reservationId, 'the call was admitted');
  await store.settle(reserved.reservationId, { costMicroUsd, tokens: 0 });
  return alerts.afterSettle(store, { plan, reserved, costMicroUsd, policyRevision: 'rev1', now });
}

async function until(what: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(10);
  }
}

describe('budget alerts', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-alerts-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('each threshold fires once per period, signed, to every channel', async () => {
    const hook = await receiver();
    const slack = await receiver();
    const results: DeliveryResult[] = [];
    const dispatcher = new AlertDispatcher({
      channels: [
        { name: 'finops', format: 'json', url: hook.url, signingSecret: 'shh-test-secret' },
        { name: 'slack', format: 'slack', url: slack.url },
      ],
      onResult: (r) => results.push(r),
    });
    const store = new SqliteCounterStore({ path: join(dir, 'once.sqlite') });
    const alerts = new BudgetAlerts(dispatcher);
    const budgets: BudgetPolicy[] = [{ period: 'monthly', amountUsd: 10, alertAt: [50, 80, 100] }];
    try {
      const fired: BudgetAlert[][] = [];
      for (const cost of [3, 2.5, 1, 2, 0.5, 1]) fired.push(await spend(store, alerts, budgets, cost));
      // Spend after each call: 3, 5.5, 6.5, 8.5, 9, 10.
      assert.deepEqual(
        fired.map((f) => f.map((a) => a.thresholdPct)),
        [[], [50], [], [80], [], [100]],
      );
      await until(() => hook.received.length === 3 && slack.received.length === 3);
      const first = hook.received[0];
      const sig = String(first.headers[SIGNATURE_HEADER]);
      const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig) ?? [];
      assert.ok(t, `signature header is t=…,v1=…: ${sig}`);
      const expected = createHmac('sha256', 'shh-test-secret').update(`${t}.${first.body}`).digest('hex');
      assert.equal(v1, expected);
      const event = JSON.parse(first.body);
      assert.equal(event.type, 'portcullis.budget.threshold');
      assert.equal(event.alert.thresholdPct, 50);
      assert.equal(event.alert.usedUsd, 5.5);
      assert.equal(event.alert.budget, 'key:dana:monthly');
      assert.match(
        JSON.parse(slack.received[2].body).text,
        /monthly budget of key dana is spent: \$10\.00 of \$10\.00\. Calls are refused/,
      );
      assert.equal(slack.received[0].headers[SIGNATURE_HEADER], undefined, 'unsigned without a secret');
      assert.ok(results.every((r) => r.outcome === 'delivered'));
    } finally {
      await dispatcher.close();
      await store.close();
      await hook.close();
      await slack.close();
    }
  });

  test('a soft budget says when it is spent even without thresholds of its own', async () => {
    const hook = await receiver();
    const dispatcher = new AlertDispatcher({ channels: [{ name: 'h', format: 'json', url: hook.url }] });
    const store = new SqliteCounterStore({ path: join(dir, 'soft.sqlite') });
    try {
      const alerts = new BudgetAlerts(dispatcher);
      const budgets: BudgetPolicy[] = [{ period: 'daily', amountUsd: 1, enforcement: 'soft' }];
      assert.deepEqual(await spend(store, alerts, budgets, 0.9), []);
      const [spent] = await spend(store, alerts, budgets, 0.2);
      assert.equal(spent.thresholdPct, 100);
      assert.equal(spent.enforcement, 'soft');
      await until(() => hook.received.length === 1);
      assert.match(JSON.parse(hook.received[0].body).message, /Calls still go through \(soft limit\)/);
    } finally {
      await dispatcher.close();
      await store.close();
      await hook.close();
    }
  });

  test('a failing webhook is retried with back-off until it takes the alert; a 4xx is not retried', async () => {
    const flaky = await receiver((n) => (n < 3 ? 503 : 200));
    const gone = await receiver(() => 404);
    const results: DeliveryResult[] = [];
    const dispatcher = new AlertDispatcher({
      channels: [
        { name: 'flaky', format: 'json', url: flaky.url },
        { name: 'gone', format: 'json', url: gone.url },
      ],
      backoffMs: 20,
      onResult: (r) => results.push(r),
    });
    try {
      const started = Date.now();
      dispatcher.send(sampleAlert('retry'));
      assert.ok(Date.now() - started < 20, 'send never waits for delivery');
      await until(() => results.length === 2);
      const byChannel = Object.fromEntries(results.map((r) => [r.channel, r]));
      assert.equal(byChannel.flaky.outcome, 'delivered');
      assert.equal(byChannel.flaky.attempts, 3);
      assert.equal(byChannel.gone.outcome, 'failed');
      assert.equal(byChannel.gone.attempts, 1);
      assert.equal(byChannel.gone.reason, 'http_404');
      assert.ok(!JSON.stringify(results).includes('127.0.0.1'), 'results never carry the URL');
    } finally {
      await dispatcher.close();
      await flaky.close();
      await gone.close();
    }
  });

  test('an unreachable webhook gives up after its attempts; a storm is cut at maxPerMinute', async () => {
    const results: DeliveryResult[] = [];
    const dispatcher = new AlertDispatcher({
      channels: [{ name: 'down', format: 'json', url: 'http://127.0.0.1:9/hook' }],
      backoffMs: 5,
      attempts: 3,
      maxPerMinute: 4,
      onResult: (r) => results.push(r),
    });
    try {
      for (let i = 0; i < 10; i++) dispatcher.send(sampleAlert(`storm-${i}`));
      await until(() => results.length === 10);
      assert.equal(results.filter((r) => r.outcome === 'dropped' && r.reason === 'rate').length, 6);
      const failed = results.filter((r) => r.outcome === 'failed');
      assert.equal(failed.length, 4);
      assert.ok(failed.every((r) => r.attempts === 3));
    } finally {
      await dispatcher.close();
    }
  });

  test('two replicas on one Redis send each threshold once', {
    skip: redisAvailable() ? false : 'no redis-server',
  }, async () => {
    const server = new RedisServer();
    await server.start();
    const hook = await receiver();
    const stores = [new RedisCounterStore({ url: server.url }), new RedisCounterStore({ url: server.url })];
    const dispatchers = stores.map(
      () => new AlertDispatcher({ channels: [{ name: 'h', format: 'json', url: hook.url }] }),
    );
    try {
      await Promise.all(stores.map((s) => s.ready()));
      const replicas = dispatchers.map((d) => new BudgetAlerts(d));
      const budgets: BudgetPolicy[] = [{ period: 'monthly', amountUsd: 10, alertAt: [50, 100] }];
      const fired = await Promise.all(
        Array.from({ length: 20 }, (_, i) => spend(stores[i % 2], replicas[i % 2], budgets, 0.5)),
      );
      const all = fired
        .flat()
        .map((a) => a.thresholdPct)
        .sort((a, b) => a - b);
      assert.deepEqual(all, [50, 100]);
      await until(() => hook.received.length === 2);
      await sleep(100);
      assert.equal(hook.received.length, 2);
    } finally {
      await Promise.all(dispatchers.map((d) => d.close()));
      await Promise.all(stores.map((s) => s.close()));
      await hook.close();
      await server.stop();
    }
  });
});

function sampleAlert(id: string): BudgetAlert {
  return {
    id,
    time: now.toISOString(),
    budget: 'team:app-dev:monthly',
    scope: 'team',
    owner: 'app-dev',
    period: 'monthly',
    thresholdPct: 80,
    limitUsd: 100,
    usedUsd: 81,
    enforcement: 'hard',
    policyRevision: 'rev1',
  };
}

describe('alert channels from policy', () => {
  test('secrets are read by reference and a missing one is named, never shown', async () => {
    const { resolveChannels } = await import('../../src/alerts/channels.ts');
    const env = { HOOK_URL: 'https://hooks.example/T000/B000/xyzzy', HOOK_SECRET: 'sekrit' };
    const { channels, problems } = resolveChannels(
      [
        {
          name: 'ok',
          format: 'json',
          url: { fromEnv: 'HOOK_URL' },
          signingSecret: { fromEnv: 'HOOK_SECRET' },
        },
        { name: 'no-url', format: 'slack', url: { fromEnv: 'MISSING_URL' } },
        { name: 'bad-file', format: 'json', url: { fromFile: '/nonexistent/hook' } },
      ],
      env,
    );
    assert.deepEqual(channels, [{ name: 'ok', format: 'json', url: env.HOOK_URL, signingSecret: 'sekrit' }]);
    assert.deepEqual(problems, [
      { channel: 'no-url', message: 'url: environment variable MISSING_URL is not set' },
      { channel: 'bad-file', message: 'url: file /nonexistent/hook cannot be read (ENOENT)' },
    ]);
  });
});
