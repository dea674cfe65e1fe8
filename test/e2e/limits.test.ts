// Budgets and rate limits through real `portcullis serve` processes, the simulator, and real stores.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { RedisServer, redisAvailable } from '../limits/redis-server.ts';
import {
  type Answer,
  anthropicCall,
  CALL_USD,
  e2ePolicy,
  INPUT_METERED_MODEL,
  killAll,
  openaiCall,
  startGateway,
  startSimulator,
} from './helpers.ts';

after(killAll);

const count = (answers: Answer[], status: number) => answers.filter((a) => a.status === status).length;

/** 50 calls' worth: exactly 50 fit, the 51st does not. */
const FIFTY = { id: 'e2e-fifty', budgets: [{ amountUsd: 50 * CALL_USD, period: 'daily' }] };

function assertBudgetDenial(a: Answer, api: 'anthropic' | 'openai'): void {
  // OpenAI's own wire form of a spent quota (429, insufficient_quota), which its clients treat as final.
  assert.equal(a.status, api === 'openai' ? 429 : 402, a.text);
  if (api === 'openai') assert.equal(a.json().error.type, 'insufficient_quota');
  const body = a.json();
  const message: string = api === 'anthropic' ? body.error.message : body.error.message;
  if (api === 'anthropic') assert.equal(body.type, 'error');
  else assert.equal(body.error.code, 'budget_exceeded');
  assert.match(message, /daily budget of key e2e-fifty \(0\.50 USD\)/);
  assert.match(message, /It resets at \d{4}-\d\d-\d\dT00:00:00[-+]\d\d:\d\d/);
  assert.equal(a.headers.get('x-portcullis-decision'), 'budget_exceeded');
  // A reset hours away is in the message, not in retry-after (Codex would sleep for it).
  assert.equal(a.headers.get('retry-after'), null);
  assert.equal(a.headers.get('x-should-retry'), 'false');
}

describe('budgets, SQLite store', () => {
  test('200 concurrent calls against a budget for exactly 50: 50 succeed, 150 get 402 naming the budget', async () => {
    const { sim, url: simUrl } = await startSimulator();
    const policy = e2ePolicy([FIFTY]);
    const gw = await startGateway({ policyDir: policy.dir, simUrl });
    try {
      const answers = await Promise.all(
        Array.from({ length: 200 }, () => anthropicCall(gw.url, policy.keys['e2e-fifty'])),
      );
      assert.equal(count(answers, 200), 50);
      assert.equal(count(answers, 402), 150);
      for (const a of answers.filter((x) => x.status === 402)) assertBudgetDenial(a, 'anthropic');
      const ok = answers.find((a) => a.status === 200) as Answer;
      assert.equal(ok.json().usage.output_tokens, 1000);
      // The tightest budget after the reservation, and it never goes below zero.
      const remaining = answers
        .filter((a) => a.status === 200)
        .map((a) => Number(a.headers.get('x-portcullis-budget-remaining-usd')));
      assert.equal(Math.min(...remaining), 0);
      assert.equal(Math.max(...remaining), 0.49);
    } finally {
      assert.equal(await gw.stop(), 0);
      await sim.close();
    }
  });

  test('spend survives a restart on the same data directory', async () => {
    const { sim, url: simUrl } = await startSimulator();
    const policy = e2ePolicy([{ id: 'e2e-two', budgets: [{ amountUsd: 2 * CALL_USD, period: 'monthly' }] }]);
    const key = policy.keys['e2e-two'];
    let gw = await startGateway({ policyDir: policy.dir, simUrl });
    try {
      assert.equal((await anthropicCall(gw.url, key)).status, 200);
      assert.equal((await anthropicCall(gw.url, key)).status, 200);
      assert.equal((await anthropicCall(gw.url, key)).status, 402);
      assert.equal(await gw.stop(), 0);
      gw = await startGateway({ policyDir: policy.dir, simUrl, dataDir: gw.dataDir });
      const again = await anthropicCall(gw.url, key);
      assert.equal(again.status, 402, again.text);
      assert.match(again.json().error.message, /0\.02 USD used/);
    } finally {
      await gw.stop();
      await sim.close();
    }
  });
});

test('input is reserved at one token per byte, so a provider counting more tokens than bytes/4 cannot overshoot', async () => {
  const { sim, url: simUrl } = await startSimulator();
  const body = JSON.stringify({
    model: INPUT_METERED_MODEL,
    max_tokens: 1,
    messages: [{ role: 'user', content: 'x'.repeat(900) }],
  });
  const bytes = Buffer.byteLength(body);
  // Room for two and a half calls at their worst case (every byte a token at 0.001 USD): admitted on
  // a bytes/4 estimate, the third call would take spend past the budget.
  const policy = e2ePolicy([
    { id: 'e2e-input', budgets: [{ amountUsd: (2.5 * bytes) / 1000, period: 'daily' }] },
  ]);
  const gw = await startGateway({ policyDir: policy.dir, simUrl });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${gw.url}/v1/messages`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'anthropic-version': '2023-06-01',
          'x-api-key': policy.keys['e2e-input'],
          // The provider bills every byte as a token: four times the bytes/4 estimate.
          'x-sim-input-tokens': String(bytes),
        },
        body,
      });
      statuses.push(res.status);
      await res.text();
    }
    assert.deepEqual(statuses, [200, 200, 402, 402]);
  } finally {
    assert.equal(await gw.stop(), 0);
    await sim.close();
  }
});

test('a policy without budget rules still never exceeds a budget: the gateway refuses with 402 itself', async () => {
  const { sim, url: simUrl } = await startSimulator();
  const policy = e2ePolicy([{ id: 'e2e-lax', budgets: [{ amountUsd: 2 * CALL_USD, period: 'weekly' }] }], {
    withoutLimitRules: true,
  });
  const key = policy.keys['e2e-lax'];
  const gw = await startGateway({ policyDir: policy.dir, simUrl });
  try {
    assert.equal((await anthropicCall(gw.url, key)).status, 200);
    assert.equal((await openaiCall(gw.url, key)).status, 200);
    const denied = await openaiCall(gw.url, key);
    assert.equal(denied.status, 429, denied.text);
    assert.equal(denied.json().error.type, 'insufficient_quota');
    assert.equal(denied.json().error.code, 'budget_exceeded');
    assert.match(denied.json().error.message, /weekly budget of key e2e-lax \(0\.02 USD\).*0\.02 USD used/);
    assert.equal(denied.headers.get('retry-after'), null);
    assert.equal(denied.headers.get('x-should-retry'), 'false');
  } finally {
    assert.equal(await gw.stop(), 0);
    await sim.close();
  }
});

describe('rate limits', () => {
  test('tokens per hour with Anthropic streams: settled stream usage counts, then 429 with retry-after', async () => {
    const { sim, url: simUrl } = await startSimulator();
    // A call reserves ~1010 tokens (input estimate + max_tokens) and settles ~1010: two fit, a third not.
    const policy = e2ePolicy([{ id: 'e2e-tph', rateLimits: { tokensPerHour: 2500 } }]);
    const key = policy.keys['e2e-tph'];
    const gw = await startGateway({ policyDir: policy.dir, simUrl });
    try {
      for (let i = 0; i < 2; i++) {
        const a = await anthropicCall(gw.url, key, { stream: true });
        assert.equal(a.status, 200, a.text);
        assert.match(a.text, /event: message_stop/);
        assert.ok(Number(a.headers.get('x-ratelimit-remaining-tokens')) < 2500);
      }
      const denied = await anthropicCall(gw.url, key, { stream: true });
      assert.equal(denied.status, 429, denied.text);
      assert.equal(denied.json().type, 'error');
      assert.equal(denied.json().error.type, 'rate_limit_error');
      assert.match(denied.json().error.message, /Rate limit of key e2e-tph reached: 2500 tokens per hour/);
      // The hour's window resets far more than a minute away: the wait is in the message only.
      assert.match(denied.json().error.message, /Retry after \d+ s/);
      assert.equal(denied.headers.get('retry-after'), null);
      assert.equal(denied.headers.get('x-should-retry'), 'false');
    } finally {
      assert.equal(await gw.stop(), 0);
      await sim.close();
    }
  });
});

describe('budgets, Redis shared by two gateway processes', { skip: !redisAvailable() }, () => {
  test('200 concurrent calls over two replicas: exactly 50 succeed; Redis down → 503 fail-closed, back → calls succeed', async () => {
    const redis = new RedisServer();
    await redis.start();
    const { sim, url: simUrl } = await startSimulator();
    const policy = e2ePolicy([FIFTY, { id: 'e2e-open' }], { redis: true });
    const env = { PORTCULLIS_REDIS_URL: redis.url };
    const gws = await Promise.all([
      startGateway({ policyDir: policy.dir, simUrl, env }),
      startGateway({ policyDir: policy.dir, simUrl, env }),
    ]);
    try {
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          i % 2 === 0
            ? anthropicCall(gws[0].url, policy.keys['e2e-fifty'])
            : openaiCall(gws[1].url, policy.keys['e2e-fifty']),
        ),
      );
      assert.equal(count(answers, 200), 50);
      // OpenAI's surface words a spent budget as OpenAI does: 429 insufficient_quota.
      assert.equal(count(answers, 402) + count(answers, 429), 150);
      answers.forEach((a, i) => {
        if (a.status !== 200) assertBudgetDenial(a, i % 2 === 0 ? 'anthropic' : 'openai');
      });

      // Team app-dev has budgets, so even a key without its own limits needs the store.
      const open = policy.keys['e2e-open'];
      assert.equal((await openaiCall(gws[0].url, open)).status, 200);
      await redis.stop();
      const down = await Promise.all([anthropicCall(gws[0].url, open), openaiCall(gws[1].url, open)]);
      assert.equal(down[0].status, 503, down[0].text);
      assert.equal(down[0].json().type, 'error');
      assert.match(down[0].json().error.message, /budget store is unavailable/);
      assert.equal(down[1].status, 503, down[1].text);
      assert.equal(down[1].json().error.code, 'limits_unavailable');
      for (const gw of gws) assert.equal(gw.child.exitCode, null, 'the gateway is still running');

      await redis.start();
      // ioredis reconnects in the background: retry until the first call goes through.
      let back: Answer | undefined;
      for (let i = 0; i < 100; i++) {
        back = await openaiCall(gws[1].url, open);
        if (back.status === 200) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(back?.status, 200, back?.text ?? '');
      assert.equal((await anthropicCall(gws[0].url, open)).status, 200);
      // The spend kept in Redis (AOF) is still there.
      assertBudgetDenial(await anthropicCall(gws[0].url, policy.keys['e2e-fifty']), 'anthropic');
    } finally {
      for (const gw of gws) assert.equal(await gw.stop(), 0);
      await sim.close();
      await redis.destroy();
    }
  });
});
