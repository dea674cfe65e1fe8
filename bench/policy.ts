// Policy-plane benchmark: decision latency with a 10,000-key policy (the keys are in the Wasm data
// only when the Rego reads them; the example's does not), and validate+build time of a 10,000-key
// policy directory. Run: npm run bench -- policy   (or node bench/policy.ts)
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateVirtualKey, hashVirtualKey } from '../src/cli/keys.ts';
import { buildSnapshot } from '../src/policy/build-snapshot.ts';
import type { BudgetUsage, DecisionInput } from '../src/policy/decision.ts';
import { keyFacts } from '../src/policy/key-facts.ts';
import { EXAMPLE_POLICY_DIR } from '../test/fixtures/keys.ts';

const KEYS = Number(process.env.BENCH_KEYS ?? 10_000);

function bigPolicy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-policy-'));
  cpSync(EXAMPLE_POLICY_DIR, dir, { recursive: true });
  const docs: string[] = [];
  for (let i = 0; i < KEYS; i++) {
    docs.push(`apiVersion: portcullis.dev/v1
kind: VirtualKey
metadata:
  name: dev-${i}
spec:
  owner: dev-${i}@acme.example
  team: ${i % 2 ? 'app-dev' : 'platform'}
  keyHash: sha256:${hashVirtualKey(generateVirtualKey())}
  models: [claude-haiku-4-5*, gpt-5-mini, gemini-2.5-flash*]
  toolScope: read-only
  budgets:
    - { amountUsd: 100, period: monthly }
  rateLimits: { requestsPerMinute: 60 }
`);
  }
  writeFileSync(join(dir, 'keys', 'generated.yaml'), docs.join('---\n'));
  return dir;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

const dir = bigPolicy();
const t0 = performance.now();
const snapshot = await buildSnapshot({ dir });
const buildMs = performance.now() - t0;

/** A monthly budget with room, as the limits planner reports it (this call may cost up to 0.49 USD). */
function budget(
  id: string,
  scope: 'key' | 'team',
  owner: string,
  limitUsd: number,
  usedUsd: number,
): BudgetUsage {
  return {
    id,
    scope,
    owner,
    period: 'monthly',
    limitUsd,
    usedUsd,
    requestUsd: 0.49,
    resetsInSeconds: 86400,
  };
}

const key = snapshot.keys.get(`dev-${KEYS - 1}`)!;
const input: DecisionInput = {
  surface: 'anthropic.messages',
  provider: 'anthropic',
  model: 'claude-haiku-4-5-20251001',
  pricedModel: 'claude-haiku-4-5',
  stream: true,
  tools: ['Task', 'Bash', 'Glob', 'Grep', 'Read', 'Edit', 'Write', 'WebFetch', 'TodoWrite'],
  sizes: { bodyBytes: 48_000, estimatedInputTokens: 12_000, maxOutputTokens: 32_000 },
  auth: { status: 'ok', enforced: true },
  key: keyFacts(key),
  session: '2d7c3c1e-8a4f-4d0b-9f5e-3c2b1a0d9e8f',
  usage: {
    budgets: [
      budget(`key:${key.id}:monthly`, 'key', key.id, 100, 12.5),
      budget('team:app-dev:monthly', 'team', 'app-dev', 3000, 812),
      budget('team:acme:monthly', 'team', 'acme', 20000, 9120),
    ],
    rateLimits: [
      {
        id: `key:${key.id}:rpm`,
        scope: 'key',
        owner: key.id,
        kind: 'requests_per_minute',
        limit: 60,
        used: 3,
        request: 1,
        resetsInSeconds: 40,
      },
    ],
  },
  guardrails: { findings: [] },
};

const decision = snapshot.evaluate(input);
if (!decision.allow) throw new Error(`benchmark input was denied: ${decision.reasons.join('; ')}`);
for (let i = 0; i < 5_000; i++) snapshot.evaluate(input);
const N = 50_000;
const times = new Float64Array(N);
for (let i = 0; i < N; i++) {
  const a = process.hrtime.bigint();
  snapshot.evaluate(input);
  times[i] = Number(process.hrtime.bigint() - a) / 1000;
}
const sorted = [...times].sort((a, b) => a - b);
rmSync(dir, { recursive: true, force: true });

console.log(`policy bench (${KEYS} keys, Node ${process.version})`);
console.log(`  validate + compile + load snapshot: ${buildMs.toFixed(0)} ms   (target ≤ 5000 ms)`);
console.log(
  `  decision (OPA Wasm): p50 ${percentile(sorted, 0.5).toFixed(1)} µs, p99 ${percentile(sorted, 0.99).toFixed(1)} µs   (target p50 ≤ 20 µs)`,
);
