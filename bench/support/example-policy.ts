// Shapes a copy of the example policy for load benchmarks (bench/gateway.ts, bench/memory.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { generateVirtualKey, hashVirtualKey } from '../../src/cli/keys.ts';

/** Adds `n` virtual keys of team app-dev with a budget each, as a large organisation's policy has. */
export function addGeneratedKeys(dir: string, n: number): void {
  const docs: string[] = [];
  for (let i = 0; i < n; i++) {
    docs.push(`apiVersion: portcullis.dev/v1
kind: VirtualKey
metadata:
  name: bench-${i}
spec:
  owner: bench-${i}@acme.example
  team: app-dev
  keyHash: sha256:${hashVirtualKey(generateVirtualKey())}
  models: [gpt-5-mini]
  budgets:
    - { amountUsd: 100, period: monthly }
`);
  }
  writeFileSync(join(dir, 'keys', 'bench-generated.yaml'), docs.join('---\n'));
}

/**
 * The load is far above any human's rate limit: drop the rate limits (budgets stay, so the limits
 * store still reserves and settles on every call) so a benchmark measures overhead, not 429s.
 */
export function liftRateLimits(dir: string): void {
  for (const file of ['teams/acme.yaml', 'keys/alice-principal.yaml', 'keys/app-dev.yaml']) {
    const path = join(dir, file);
    const docs = parseAllDocuments(readFileSync(path, 'utf8'));
    if (!Array.isArray(docs)) continue;
    for (const d of docs) d.deleteIn(['spec', 'rateLimits']);
    writeFileSync(path, docs.map((d) => String(d)).join(''));
  }
}
