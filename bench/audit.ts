// Audit trail costs: `append` on the request path, sustained commit rate to SQLite, verify rate.
// Run: node_modules/.bin/node bench/audit.ts [records]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { AuditLog } from '../src/audit/log.ts';
import type { AuditRecord } from '../src/audit/record.ts';
import { verifyAuditLog } from '../src/audit/verify.ts';

const N = Number(process.argv[2] ?? 50_000);
const quiet = { warn() {}, error() {} };

function record(i: number): AuditRecord {
  return {
    requestId: `req-${i}`,
    time: new Date(1_750_000_000_000 + i).toISOString(),
    keyId: `key-${i % 50}`,
    owner: 'alice',
    team: `team-${i % 5}`,
    session: 'sess-1',
    userAgent: 'claude-cli/1.0.0',
    surface: 'anthropic.messages',
    provider: 'anthropic',
    model: i % 3 ? 'claude-sonnet-4' : 'claude-haiku-4',
    stream: true,
    tokens: { input: 1200, output: 300, cached: 100 },
    costUsd: 0.0061,
    outcome: 'allowed',
    decision: { allow: true, status: 200, code: 'ok', reasons: [] },
    findings: [],
    tools: { stripped: [], deniedCalls: [] },
    latency: { totalMs: 900, upstreamMs: 870, gatewayMs: 30 },
    policyRevision: '3f2a9c1d0b7e6a5f4c3b2a19087f6e5d4c3b2a10',
    instance: 'gw-1',
  };
}

const pct = (sorted: Float64Array, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-audit-'));
try {
  const records = Array.from({ length: N }, (_, i) => record(i + 1));

  // 1. append as the request path sees it: bursts of 100 calls, the event loop turning in between
  //    (so the batcher runs as it would under a server), each call timed on its own.
  const log = AuditLog.open({ dataDir: join(dir, 'a'), logger: quiet });
  const samples = new Float64Array(N);
  const start = performance.now();
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    log.append(records[i]);
    samples[i] = Number(process.hrtime.bigint() - t0);
    if (i % 100 === 99) await yieldToLoop();
  }
  await log.close();
  const sustainedMs = performance.now() - start;
  let overhead = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 1000; i++) {
    const t0 = process.hrtime.bigint();
    overhead = Math.min(overhead, Number(process.hrtime.bigint() - t0));
  }
  samples.sort();
  console.log(
    `append (request path): p50 ${(pct(samples, 0.5) / 1000).toFixed(2)} µs, p99 ${(pct(samples, 0.99) / 1000).toFixed(2)} µs, ` +
      `max ${(samples[N - 1] / 1000).toFixed(0)} µs  (n=${N}; timer overhead ~${overhead} ns included)`,
  );
  console.log(
    `sustained to SQLite (append + batch commit + checkpoint, interleaved): ${Math.round(N / (sustainedMs / 1000))} records/s`,
  );

  // 2. Raw commit rate: everything queued at once, then flushed in batches of 500.
  const raw = AuditLog.open({ dataDir: join(dir, 'b'), logger: quiet, maxQueue: N, flushIntervalMs: 60_000 });
  for (const r of records) raw.append(r);
  const f0 = performance.now();
  await raw.flush();
  const flushMs = performance.now() - f0;
  await raw.close();
  console.log(
    `commit only (batches of 500 in one transaction each): ${Math.round(N / (flushMs / 1000))} records/s`,
  );

  // 3. verify over the log just written.
  const v0 = performance.now();
  const result = verifyAuditLog(join(dir, 'b', 'audit.db'));
  const verifyMs = performance.now() - v0;
  console.log(`verify: ${Math.round(result.records / (verifyMs / 1000))} records/s (ok=${result.ok})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
