// Policy CI speed: semantic diff of two example trees, and replay throughput under two snapshots.
// Run: node_modules/.bin/node bench/policyci.ts
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '../src/audit/record.ts';
import { buildSnapshot } from '../src/policy/build-snapshot.ts';
import { replayRecords } from '../src/policyci/replay.ts';
import { diffPolicyDirs } from '../src/policyci/semantic-diff.ts';
import { REPO_ROOT } from '../src/toolchain/tools.ts';

const tmp = mkdtempSync(join(tmpdir(), 'portcullis-bench-policyci-'));
try {
  const base = join(tmp, 'base');
  const head = join(tmp, 'head');
  cpSync(join(REPO_ROOT, 'policies'), base, { recursive: true });
  cpSync(join(REPO_ROOT, 'policies'), head, { recursive: true });
  const alice = join(head, 'keys', 'alice-principal.yaml');
  writeFileSync(alice, readFileSync(alice, 'utf8').replace('o3, gpt-4.1, ', 'o3, '));

  const rounds = 50;
  let t0 = performance.now();
  for (let i = 0; i < rounds; i++) diffPolicyDirs(base, head);
  const diffMs = (performance.now() - t0) / rounds;
  console.log(`semantic diff (load both trees + diff): ${diffMs.toFixed(2)} ms per diff (${rounds} rounds)`);

  const [b, h] = [
    await buildSnapshot({ dir: base, source: { revision: 'base', dir: base } }),
    await buildSnapshot({ dir: head, source: { revision: 'head', dir: head } }),
  ];
  const models = ['gpt-4.1', 'gpt-5-mini', 'o3', 'gpt-5'];
  const records: AuditRecord[] = Array.from({ length: 5000 }, (_, i) => ({
    requestId: `r${i}`,
    time: new Date(Date.now() - i * 1000).toISOString(),
    keyId: i % 3 === 0 ? 'bob-dev' : 'alice-principal',
    owner: 'x',
    team: 'platform',
    surface: 'openai.chat',
    provider: 'openai',
    model: models[i % models.length],
    stream: false,
    tokens: { input: 1000, output: 100, cached: 0 },
    costUsd: 0,
    outcome: 'allowed',
    decision: null,
    findings: [],
    tools: { stripped: [], deniedCalls: [] },
    latency: { totalMs: 1, upstreamMs: 1, gatewayMs: 0 },
    policyRevision: 'base',
    instance: 'bench',
  }));
  t0 = performance.now();
  const result = replayRecords(records, b, h);
  const replayMs = performance.now() - t0;
  console.log(
    `replay: ${records.length} records under two snapshots in ${replayMs.toFixed(0)} ms ` +
      `(${Math.round(records.length / (replayMs / 1000))} records/s; ${result.changed} changed)`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
