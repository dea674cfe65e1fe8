// GitOps reload latency: signed webhook → new revision active, on the example policy and on a
// repository with 10,000 virtual keys (targets: ≤ 2 s and ≤ 5 s).
// Run: node_modules/.bin/node bench/reload.ts [keys]
import { createHash, createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { SnapshotHolder } from '../src/gateway/snapshot-holder.ts';
import { createPolicyManager } from '../src/sync/manager.ts';
import { registerWebhookRoutes } from '../src/sync/webhook.ts';
import { policyRepo, setBobBudget, tempDir } from '../test/sync/helpers.ts';

const KEYS = Number(process.argv[2] ?? 10_000);
const SECRET = 'bench-secret';

function generatedKeys(n: number, budget: number): string {
  const docs: string[] = [];
  for (let i = 0; i < n; i++) {
    const hash = createHash('sha256').update(`bench-key-${i}`).digest('hex');
    docs.push(
      `apiVersion: portcullis.dev/v1
kind: VirtualKey
metadata:
  name: gen-${String(i).padStart(5, '0')}
spec:
  owner: dev-${i}@acme.example
  team: app-dev
  keyHash: sha256:${hash}
  models: [gpt-5-mini, claude-haiku-4-5*]
  budgets:
    - { amountUsd: ${i === 0 ? budget : 10}, period: monthly }
  rateLimits:
    requestsPerMinute: 60
`,
    );
  }
  return docs.join('---\n');
}

async function measure(label: string, prepare?: (repo: ReturnType<typeof policyRepo>) => void) {
  const repo = policyRepo();
  if (prepare) {
    prepare(repo);
    repo.commit('Bench setup');
    repo.push();
  }
  const holder = new SnapshotHolder();
  const manager = createPolicyManager({
    source: { kind: 'git', url: repo.remote, ref: 'main' },
    holder,
    dataDir: tempDir('bench'),
    pollSeconds: 0,
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
  });
  let t0 = performance.now();
  await manager.start();
  const cold = performance.now() - t0;
  const app = Fastify();
  await registerWebhookRoutes(app, manager, { githubSecret: SECRET });

  const runs: number[] = [];
  for (let i = 1; i <= 3; i++) {
    const sha = repo.change('keys/app-dev.yaml', setBobBudget(500 + i), `Bench change ${i}`);
    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha });
    t0 = performance.now();
    const res = await app.inject({
      method: 'POST',
      url: '/webhooks/github',
      payload: body,
      headers: {
        'content-type': 'application/json',
        'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
      },
    });
    if (res.statusCode !== 202) throw new Error(`webhook answered ${res.statusCode}`);
    while (holder.current()?.revision !== sha) await new Promise((r) => setTimeout(r, 5));
    runs.push(performance.now() - t0);
  }
  await app.close();
  await manager.stop();
  const keys = holder.current()?.keys.size ?? 0;
  const median = [...runs].sort((a, b) => a - b)[1];
  console.log(
    `${label.padEnd(22)} keys=${String(keys).padStart(6)}  cold start ${cold.toFixed(0).padStart(5)} ms  ` +
      `webhook→active median ${median.toFixed(0)} ms (runs ${runs.map((r) => r.toFixed(0)).join(', ')} ms)`,
  );
}

await measure('example policy');
await measure(`${KEYS} generated keys`, (repo) =>
  writeFileSync(join(repo.work, 'keys', 'generated.yaml'), generatedKeys(KEYS, 42)),
);
