// How much a budget holds per call against what the call costs, and how much of a $10 budget each real
// agent can spend before its first refusal, with the agents' captured requests (test/fixtures/agents)
// sent through a gateway to the simulator:
//   strict          today's default: the worst case (one input token per body byte, the agent's max tokens)
//   strict + cap    the same with an output cap of 16,000 tokens and, for OpenAI models, the input's real
//                   token count once a budget's tail no longer fits the byte bound
//   expected        the expected-cost mode (a learned estimate), overshoot bounded by the calls in flight
// The simulator bills each call as the provider would bill its tokens: the input's o200k token count (a
// real tokenizer's count; the providers' own differ by some percent) and 400 output tokens, no cache hits.
// Run: node_modules/.bin/node bench/budget-reservations.ts [--fixtures DIR] [--calls N]
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { AuditStore } from '../src/audit/index.ts';
import { createGatewayPlugins } from '../src/gateway/assemble.ts';
import { createLogger } from '../src/gateway/logger.ts';
import { createGateway } from '../src/gateway/server.ts';
import { SnapshotHolder } from '../src/gateway/snapshot-holder.ts';
import { tokenBound } from '../src/limits/token-bound.ts';
import { buildSnapshot } from '../src/policy/build-snapshot.ts';
import { type E2eKeySpec, e2ePolicy, startSimulator } from '../test/e2e/helpers.ts';
import { PROVIDER_SECRETS } from '../test/integration/stack.ts';

const { values } = parseArgs({
  options: {
    fixtures: { type: 'string', default: 'test/fixtures/agents' },
    calls: { type: 'string', default: '1000' },
  },
});
const MAX_CALLS = Number(values.calls);
const BUDGET_USD = 10;
const OUTPUT_TOKENS = 400;

interface Fixture {
  agent: string;
  version: string;
  path: string;
  surface: string;
  body: Record<string, unknown>;
}

/** The largest captured request of each agent: a conversation under way, tools and all. */
function fixtures(dir: string): Fixture[] {
  const out: Fixture[] = [];
  for (const agentDir of readdirSync(dir).sort()) {
    const files = readdirSync(join(dir, agentDir)).filter((f) => f.endsWith('.json'));
    const all = files.map((f) => JSON.parse(readFileSync(join(dir, agentDir, f), 'utf8')) as Fixture);
    all.sort((a, b) => JSON.stringify(b.body).length - JSON.stringify(a.body).length);
    if (all[0] !== undefined) out.push(all[0]);
  }
  return out;
}

function modelOf(f: Fixture): string {
  if (typeof f.body.model === 'string') return f.body.model;
  return /models\/([^/:]+):/.exec(f.path)?.[1] ?? '';
}

const { sim, url: simUrl } = await startSimulator();
Object.assign(process.env, PROVIDER_SECRETS);
const log = createLogger('error');

interface Result {
  calls: number;
  spentUsd: number;
  reservedMeanUsd: number;
  actualMeanUsd: number;
  refusedAt: number | null;
}

async function run(f: Fixture, spec: Omit<E2eKeySpec, 'id' | 'models'>): Promise<Result> {
  const model = modelOf(f);
  const policy = e2ePolicy([{ id: 'agent', models: [model], ...spec }]);
  // Only the key's $10 budget: the example teams' budgets and output cap would blur what is measured.
  writeFileSync(
    join(policy.dir, 'teams', 'acme.yaml'),
    ['acme', 'platform', 'app-dev']
      .map(
        (name, i) =>
          `apiVersion: portcullis.dev/v1\nkind: Team\nmetadata:\n  name: ${name}\nspec:${i > 0 ? '\n  parent: acme' : ' {}'}\n`,
      )
      .join('---\n'),
  );
  const snapshot = await buildSnapshot({
    dir: policy.dir,
    env: {
      ...process.env,
      PORTCULLIS_UPSTREAM_ANTHROPIC: simUrl,
      PORTCULLIS_UPSTREAM_OPENAI: simUrl,
      PORTCULLIS_UPSTREAM_GOOGLE: simUrl,
    },
  });
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-budget-'));
  const wired = createGatewayPlugins({ dataDir, registry: new Registry(), logger: log });
  wired.lifecycle.start(snapshot.gateway);
  const gw = createGateway({ holder: new SnapshotHolder(snapshot), plugins: wired.plugins, logger: log });
  const url = await gw.listen(0);
  const body = JSON.stringify({ ...f.body, model: f.body.model === undefined ? undefined : model });
  const inputTokens = tokenBound('openai', 'gpt-5', body) ?? Math.ceil(body.length / 4);
  const path = f.surface === 'gemini.generate' ? `${f.path}?alt=sse` : f.path;
  let refusedAt: number | null = null;
  let calls = 0;
  for (; calls < MAX_CALLS; calls++) {
    const res = await fetch(url + path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${policy.keys.agent}`,
        'x-api-key': policy.keys.agent,
        'x-goog-api-key': policy.keys.agent,
        'anthropic-version': '2023-06-01',
        'x-sim-input-tokens': String(inputTokens),
        'x-sim-output-tokens': String(OUTPUT_TOKENS),
      },
      body,
    });
    await res.arrayBuffer();
    if (res.status === 402) {
      refusedAt = calls;
      break;
    }
    if (res.status !== 200) throw new Error(`${f.agent}: ${res.status}`);
  }
  await gw.close();
  await gw.pipeline.drain();
  await wired.lifecycle.close();
  const store = new AuditStore(join(dataDir, 'audit.db'));
  const records = store
    .query({ limit: 1_000_000 })
    .map((e) => JSON.parse(e.json))
    .filter((r) => r.outcome === 'allowed');
  store.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(policy.dir, { recursive: true, force: true });
  const spent = records.reduce((s: number, r: { costUsd: number }) => s + r.costUsd, 0);
  const reserved = records.reduce(
    (s: number, r: { budget?: { reservedUsd: number } }) => s + (r.budget?.reservedUsd ?? 0),
    0,
  );
  return {
    calls,
    spentUsd: spent,
    reservedMeanUsd: reserved / Math.max(1, records.length),
    actualMeanUsd: spent / Math.max(1, records.length),
    refusedAt,
  };
}

const modes: [string, Omit<E2eKeySpec, 'id' | 'models'>][] = [
  ['strict', { budgets: [{ amountUsd: BUDGET_USD, period: 'daily' }] }],
  [
    'strict + cap 16k',
    { budgets: [{ amountUsd: BUDGET_USD, period: 'daily' }], outputCaps: [{ maxOutputTokens: 16_000 }] },
  ],
  ['expected', { budgets: [{ amountUsd: BUDGET_USD, period: 'daily', mode: 'expected' }] }],
];

const usd = (n: number) => `$${n.toFixed(4)}`;
process.stdout.write(
  `${'agent'.padEnd(22)} ${'mode'.padEnd(17)} ${'reserved/call'.padStart(13)} ${'actual/call'.padStart(12)} ${'ratio'.padStart(7)}   spent of $${BUDGET_USD} before the first refusal\n`,
);
for (const f of fixtures(values.fixtures)) {
  for (const [label, spec] of modes) {
    const r = await run(f, spec);
    const ratio = r.actualMeanUsd > 0 ? (r.reservedMeanUsd / r.actualMeanUsd).toFixed(1) : '-';
    const tail = r.refusedAt === null ? `no refusal in ${r.calls} calls` : `after ${r.refusedAt} calls`;
    process.stdout.write(
      `${`${f.agent} ${f.version}`.padEnd(22)} ${label.padEnd(17)} ${usd(r.reservedMeanUsd).padStart(13)} ${usd(r.actualMeanUsd).padStart(12)} ${`${ratio}x`.padStart(7)}   $${r.spentUsd.toFixed(2)} (${tail})\n`,
    );
  }
}
await sim.close();
