// Budgets people can live with, through real `portcullis serve` processes: output caps, expected-cost
// admission with a bounded overshoot, soft budgets, alerts delivered to a webhook, model-scoped budgets.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { AuditRecord } from '../../src/audit/index.ts';
import {
  anthropicCall,
  auditCli,
  e2ePolicy,
  INPUT_METERED_MODEL,
  killAll,
  post,
  startGateway,
  startSimulator,
} from './helpers.ts';

after(killAll);

function records(dataDir: string): AuditRecord[] {
  const q = auditCli(['query', '--data-dir', dataDir, '--limit', '0', '--oldest-first', '--json']);
  assert.equal(q.status, 0, q.stderr);
  return q.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l).record as AuditRecord);
}

/** An Anthropic call on the metered model ($10 per million output tokens) asking for `maxTokens`. */
const call = (url: string, key: string, maxTokens: number) =>
  post(
    url,
    '/v1/messages',
    { model: 'e2e-metered', max_tokens: maxTokens, messages: [{ role: 'user', content: 'Say hello.' }] },
    { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'x-sim-output-tokens': String(maxTokens) },
  );

test('an output cap lowers what the call asks for, and the budget reserves only the cap', async () => {
  const { sim, url: simUrl } = await startSimulator();
  const policy = e2ePolicy([
    {
      id: 'e2e-capped',
      budgets: [{ amountUsd: 1, period: 'daily' }],
      outputCaps: [{ maxOutputTokens: 100 }],
    },
  ]);
  const gw = await startGateway({ policyDir: policy.dir, simUrl });
  try {
    const a = await call(gw.url, policy.keys['e2e-capped'], 4000);
    assert.equal(a.status, 200, a.text);
    assert.equal(a.json().usage.output_tokens, 100, 'the upstream was asked for 100 tokens at most');
    // Worst case: 100 output tokens at $10/M = $0.001 held, not $0.04.
    assert.equal(Number(a.headers.get('x-portcullis-budget-remaining-usd')), 0.999);
  } finally {
    assert.equal(await gw.stop(), 0);
    await sim.close();
  }
});

test('an expected-cost budget spends its tail and overshoots by at most one call per in-flight slot', async () => {
  const { sim, url: simUrl } = await startSimulator();
  // Each call really costs $0.04 (4,000 output tokens); a first call is expected to cost $0.01024.
  const limit = 0.05;
  const slots = 4;
  const policy = e2ePolicy([
    {
      id: 'e2e-expected',
      budgets: [{ amountUsd: limit, period: 'daily', mode: 'expected' }],
      rateLimits: { maxInFlight: slots },
    },
  ]);
  const gw = await startGateway({ policyDir: policy.dir, simUrl });
  try {
    const answers = await Promise.all(
      Array.from({ length: 24 }, () => call(gw.url, policy.keys['e2e-expected'], 4000)),
    );
    const ok = answers.filter((a) => a.status === 200);
    assert.ok(ok.length >= 2, `a strict budget would admit one call; this one admitted ${ok.length}`);
    for (const a of answers.filter((x) => x.status !== 200)) assert.ok([402, 429].includes(a.status), a.text);
    const refusal = answers.find((a) => a.status === 402);
    if (refusal) assert.match(refusal.json().error.message, /is expected to cost/);
  } finally {
    assert.equal(await gw.stop(), 0);
    await sim.close();
  }
  const all = records(gw.dataDir).filter((r) => r.outcome === 'allowed');
  const spent = all.reduce((s, r) => s + r.costUsd, 0);
  const maxCall = Math.max(...all.map((r) => r.costUsd));
  assert.ok(spent > limit - 0.01, `the tail of the budget was spent: ${spent}`);
  assert.ok(spent <= limit + slots * maxCall + 1e-9, `overshoot bounded: spent ${spent}`);
  const over = all.filter((r) => (r.budget?.overshootUsd ?? 0) > 0);
  assert.ok(over.length > 0 || spent <= limit, 'overshoot is in the audit record');
  for (const r of all)
    assert.ok(r.budget !== undefined && r.budget.reservedUsd > 0, 'each record shows what it held');
});

/** A webhook receiver that keeps every delivery. */
async function webhook() {
  const got: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/alerts`, got, close: () => new Promise((r) => server.close(r)) };
}

test('a soft budget warns instead of refusing, and its thresholds are alerted once each, signed', async () => {
  const { sim, url: simUrl } = await startSimulator();
  const hook = await webhook();
  const policy = e2ePolicy([
    {
      id: 'e2e-soft',
      budgets: [{ amountUsd: 0.02, period: 'monthly', enforcement: 'soft', alertAt: [50, 100] }],
    },
  ]);
  const gwFile = join(policy.dir, 'gateway.yaml');
  writeFileSync(
    gwFile,
    readFileSync(gwFile, 'utf8').replace(
      /\n {2}limits:/,
      '\n  alerts:\n    channels:\n      - name: finops\n        format: json\n        url: { fromEnv: E2E_HOOK_URL }\n        signingSecret: { fromEnv: E2E_HOOK_SECRET }\n  limits:',
    ),
  );
  const gw = await startGateway({
    policyDir: policy.dir,
    simUrl,
    env: { E2E_HOOK_URL: hook.url, E2E_HOOK_SECRET: 'e2e-signing-secret' },
  });
  try {
    const key = policy.keys['e2e-soft'];
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await anthropicCall(gw.url, key));
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200],
      'a soft budget never refuses',
    );
    assert.equal(answers[0].headers.get('x-portcullis-warning'), null);
    assert.match(
      answers[2].headers.get('x-portcullis-warning') ?? '',
      /monthly budget of key e2e-soft \(0\.02 USD\) is spent/,
    );
    const deadline = Date.now() + 10_000;
    while (hook.got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(hook.got.length, 2, 'one alert per threshold');
    const events = hook.got.map((g) => JSON.parse(g.body));
    assert.deepEqual(
      events.map((e) => e.alert.thresholdPct),
      [50, 100],
    );
    for (const g of hook.got) {
      const [, t, v1] = /^t=(\d+),v1=([0-9a-f]+)$/.exec(String(g.headers['x-portcullis-signature'])) ?? [];
      assert.equal(v1, createHmac('sha256', 'e2e-signing-secret').update(`${t}.${g.body}`).digest('hex'));
    }
    assert.ok(!gw.output().includes(hook.url), 'the webhook URL is never logged');
  } finally {
    assert.equal(await gw.stop(), 0);
    await sim.close();
    await hook.close();
  }
  const recs = records(gw.dataDir);
  assert.deepEqual(
    recs.map((r) => r.budget?.alerts?.map((a) => a.thresholdPct) ?? []),
    [[50], [100], []],
  );
  assert.match(recs[2].budget?.warnings?.[0] ?? '', /is spent/);
});

test('a budget scoped to one model refuses only that model, and says which', async () => {
  const { sim, url: simUrl } = await startSimulator();
  const policy = e2ePolicy([
    {
      id: 'e2e-scoped',
      budgets: [
        { name: 'input-metered', amountUsd: 0.000001, period: 'monthly', models: [INPUT_METERED_MODEL] },
      ],
    },
  ]);
  const gw = await startGateway({ policyDir: policy.dir, simUrl });
  try {
    const key = policy.keys['e2e-scoped'];
    assert.equal((await anthropicCall(gw.url, key)).status, 200, 'other models are not counted');
    const refused = await post(
      gw.url,
      '/v1/messages',
      { model: INPUT_METERED_MODEL, max_tokens: 1, messages: [{ role: 'user', content: 'Say hello.' }] },
      { 'x-api-key': key, 'anthropic-version': '2023-06-01' },
    );
    assert.equal(refused.status, 402, refused.text);
    assert.match(refused.json().error.message, /monthly e2e-input-metered budget of key e2e-scoped/);
    assert.match(refused.json().error.message, /portcullis usage/);
  } finally {
    assert.equal(await gw.stop(), 0);
    await sim.close();
  }
});

test('portcullis usage shows a developer their own budgets and rate limits from the running gateway', async () => {
  const { spawnSync } = await import('node:child_process');
  const { CLI, NODE } = await import('./helpers.ts');
  const { sim, url: simUrl } = await startSimulator();
  const policy = e2ePolicy([
    {
      id: 'e2e-usage',
      budgets: [{ amountUsd: 0.05, period: 'daily' }],
      rateLimits: { requestsPerMinute: 30 },
    },
  ]);
  const gw = await startGateway({ policyDir: policy.dir, simUrl });
  const key = policy.keys['e2e-usage'];
  const run = (args: string[], env: Record<string, string | undefined>) =>
    spawnSync(NODE, [CLI, 'usage', '--gateway', gw.url, ...args], {
      encoding: 'utf8',
      env: {
        ...process.env,
        PORTCULLIS_API_KEY: undefined,
        ANTHROPIC_API_KEY: undefined,
        OPENAI_API_KEY: undefined,
        ANTHROPIC_AUTH_TOKEN: undefined,
        GEMINI_API_KEY: undefined,
        ...env,
      },
    });
  try {
    assert.equal((await anthropicCall(gw.url, key)).status, 200);
    const text = run([], { PORTCULLIS_API_KEY: key });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /Key e2e-usage \(e2e-usage@acme\.example, team app-dev\)/);
    assert.match(text.stdout, /key e2e-usage daily: \$0\.01 of \$0\.05 spent \(20%\), \$0\.04 left, resets /);
    assert.match(text.stdout, /requests per minute: 1 of 30 used, 29 left/);
    assert.ok(!text.stdout.includes(key) && !text.stderr.includes(key), 'the key is never printed');

    const json = run(['--json'], { ANTHROPIC_API_KEY: key });
    assert.equal(json.status, 0, json.stderr);
    const view = JSON.parse(json.stdout);
    assert.equal(view.budgets.find((b: { id: string }) => b.id === 'key:e2e-usage:daily').spentUsd, 0.01);

    const wrong = run([], { PORTCULLIS_API_KEY: 'pcl_not_a_key' });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /401 The key is not a valid Portcullis key/);
    const none = run([], {});
    assert.equal(none.status, 2);
    assert.match(none.stderr, /no key found; set PORTCULLIS_API_KEY/);
  } finally {
    assert.equal(await gw.stop(), 0);
    await sim.close();
  }
});

test('expected mode is exact too when calls cost what they are expected to: 200 concurrent on a budget for 50 → 50', async () => {
  const { sim, url: simUrl } = await startSimulator();
  // A first call's estimate is its input (none billed on this model) plus up to 1,024 output tokens:
  // at max_tokens 1,000 the estimate equals the call's cost, so nothing can overshoot.
  const policy = e2ePolicy([
    { id: 'e2e-exact', budgets: [{ amountUsd: 0.5, period: 'daily', mode: 'expected' }] },
  ]);
  const gw = await startGateway({ policyDir: policy.dir, simUrl });
  try {
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => anthropicCall(gw.url, policy.keys['e2e-exact'])),
    );
    assert.equal(answers.filter((a) => a.status === 200).length, 50);
    assert.equal(answers.filter((a) => a.status === 402).length, 150);
  } finally {
    assert.equal(await gw.stop(), 0);
    await sim.close();
  }
  const spent = records(gw.dataDir).reduce((s, r) => s + r.costUsd, 0);
  assert.ok(Math.abs(spent - 0.5) < 1e-9, `spent ${spent}`);
});
