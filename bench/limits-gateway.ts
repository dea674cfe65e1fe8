// What budgets, rate limits and the audit trail add to a call through the gateway: the same calls
// with no plugins, and with the limits (SQLite store) and audit plugins as `portcullis serve` assembles them.
// Run: node_modules/.bin/node bench/limits-gateway.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createGatewayPlugins } from '../src/gateway/assemble.ts';
import { createLogger } from '../src/gateway/logger.ts';
import { createGateway } from '../src/gateway/server.ts';
import { SnapshotHolder } from '../src/gateway/snapshot-holder.ts';
import { buildSnapshot } from '../src/policy/build-snapshot.ts';
import { anthropicCall, e2ePolicy, startSimulator } from '../test/e2e/helpers.ts';
import { PROVIDER_SECRETS } from '../test/integration/stack.ts';

const SEQUENTIAL = 1000;
const CONCURRENT = 2000;
const CONCURRENCY = 20;

const { sim, url: simUrl } = await startSimulator();
Object.assign(process.env, PROVIDER_SECRETS);
const policy = e2ePolicy([
  {
    id: 'bench',
    budgets: [{ amountUsd: 1e6, period: 'monthly' }],
    rateLimits: { requestsPerMinute: 1e7, tokensPerHour: 1e12 },
  },
]);
const snapshot = await buildSnapshot({
  dir: policy.dir,
  env: {
    ...process.env,
    PORTCULLIS_UPSTREAM_ANTHROPIC: simUrl,
    PORTCULLIS_UPSTREAM_OPENAI: simUrl,
    PORTCULLIS_UPSTREAM_GOOGLE: simUrl,
  },
});
const key = policy.keys.bench;
const log = createLogger('warn');

function percentiles(samples: number[]): string {
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))].toFixed(2);
  return `p50 ${at(0.5)} ms  p99 ${at(0.99)} ms`;
}

async function run(label: string, withPlugins: boolean): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  const wired = withPlugins
    ? createGatewayPlugins({ dataDir, registry: new Registry(), logger: log })
    : undefined;
  wired?.lifecycle.start(snapshot.gateway);
  const gw = createGateway({ holder: new SnapshotHolder(snapshot), plugins: wired?.plugins, logger: log });
  const url = await gw.listen(0);
  for (let i = 0; i < 100; i++) await anthropicCall(url, key);
  const samples: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const t = performance.now();
    const a = await anthropicCall(url, key);
    samples.push(performance.now() - t);
    if (a.status !== 200) throw new Error(`${label}: ${a.status} ${a.text}`);
  }
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < CONCURRENT) await anthropicCall(url, key);
    }),
  );
  const rps = CONCURRENT / ((performance.now() - t0) / 1000);
  await gw.close();
  await gw.pipeline.drain();
  await wired?.lifecycle.close();
  rmSync(dataDir, { recursive: true, force: true });
  process.stdout.write(
    `${label.padEnd(28)} sequential ${percentiles(samples)}   ${CONCURRENCY} concurrent: ${rps.toFixed(0)} calls/s\n`,
  );
}

await run('no plugins', false);
await run('limits (sqlite) + audit', true);
await sim.close();
rmSync(policy.dir, { recursive: true, force: true });
