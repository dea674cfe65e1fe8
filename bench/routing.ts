// What a fallback costs: a routed call whose first target answers 429 and whose fallback answers,
// against the same call routed straight to the fallback, in one gateway process (example policy, Rego
// in Wasm) with the simulator upstream. The target: the fallback adds no more than the configured
// back-off (here 50 ms: the simulator's `retry-after: 1` raises the jittered wait to the route's cap).
//   node_modules/.bin/node bench/routing.ts [calls]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';
import { generateVirtualKey, hashVirtualKey } from '../src/cli/keys.ts';
import { createGateway } from '../src/gateway/server.ts';
import { SnapshotHolder } from '../src/gateway/snapshot-holder.ts';
import { buildSnapshot } from '../src/policy/build-snapshot.ts';
import { Simulator } from '../src/simulator/server.ts';
import { examplePolicyCopy } from '../test/fixtures/keys.ts';

const CALLS = Number(process.argv[2] ?? 60);
const BACKOFF_MS = 50;

const sim = new Simulator({ outputTokens: 8 });
const simUrl = await sim.listen();
const { dir } = examplePolicyCopy();
const KEY = generateVirtualKey();
writeFileSync(
  join(dir, 'providers', 'bench-routing.yaml'),
  `apiVersion: portcullis.dev/v1
kind: VirtualKey
metadata: { name: bench-router }
spec:
  owner: bench@acme.example
  team: platform
  keyHash: sha256:${hashVirtualKey(KEY)}
  models: [sim-error-429, claude-haiku-4-5]
---
apiVersion: portcullis.dev/v1
kind: Provider
metadata: { name: flaky }
spec:
  api: anthropic
  baseUrl: ${simUrl}
  credential: { fromEnv: ANTHROPIC_API_KEY }
  models:
    - { id: sim-error-429, inputPerMTok: 10, outputPerMTok: 50, maxOutputTokens: 64000 }
---
apiVersion: portcullis.dev/v1
kind: Route
metadata: { name: bench-fallback }
spec:
  priority: 1
  match: { models: [bench-fallback] }
  targets: [{ provider: flaky, model: sim-error-429 }]
  fallbacks: [{ provider: anthropic, model: claude-haiku-4-5 }]
  retry: { maxAttempts: 2, backoffMs: ${BACKOFF_MS}, maxBackoffMs: ${BACKOFF_MS} }
  circuitBreaker: { failures: 1000, cooldownMs: 1000 }
---
apiVersion: portcullis.dev/v1
kind: Route
metadata: { name: bench-direct }
spec:
  priority: 1
  match: { models: [bench-direct] }
  targets: [{ provider: anthropic, model: claude-haiku-4-5 }]
`,
);
process.env.ANTHROPIC_API_KEY = 'sk-ant-bench';
const snapshot = await buildSnapshot({
  dir,
  env: {
    ...process.env,
    PORTCULLIS_UPSTREAM_ANTHROPIC: simUrl,
    PORTCULLIS_UPSTREAM_OPENAI: simUrl,
    PORTCULLIS_UPSTREAM_GOOGLE: simUrl,
  },
});
const gw = createGateway({ holder: new SnapshotHolder(snapshot), logLevel: 'error' });
const url = await gw.listen(0);
const pool = new Pool(url, { connections: 4 });

async function call(model: string): Promise<number> {
  const t = performance.now();
  const res = await pool.request({
    method: 'POST',
    path: '/v1/messages',
    headers: {
      'content-type': 'application/json',
      'x-api-key': KEY,
      'anthropic-version': '2023-06-01',
    },
    body: JSON.stringify({ model, max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] }),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${model}: ${res.statusCode} ${text.slice(0, 300)}`);
  return performance.now() - t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)];
for (let i = 0; i < 10; i++) {
  await call('bench-direct');
  await call('bench-fallback');
}
const direct: number[] = [];
const fallback: number[] = [];
for (let i = 0; i < CALLS; i++) {
  direct.push(await call('bench-direct'));
  fallback.push(await call('bench-fallback'));
}
const extra = median(fallback) - median(direct);
process.stdout.write(
  `fallback after an upstream 429, ${CALLS} calls each, configured back-off ${BACKOFF_MS} ms:\n` +
    `  routed straight to the fallback: median ${median(direct).toFixed(2)} ms, p90 ${p90(direct).toFixed(2)} ms\n` +
    `  429 first, then the fallback:    median ${median(fallback).toFixed(2)} ms, p90 ${p90(fallback).toFixed(2)} ms\n` +
    `  added: ${extra.toFixed(2)} ms = back-off ${BACKOFF_MS} ms + ${(extra - BACKOFF_MS).toFixed(2)} ms (the back-off counts from when the failed attempt was sent; what remains is timer lateness and preparing the next attempt)\n`,
);
await pool.close();
await gw.close();
await sim.close();
