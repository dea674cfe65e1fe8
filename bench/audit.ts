// Audit trail costs: `append` on the request path, the CPU the log takes from the main thread (the
// gateway's bottleneck) per record, how long it holds the event loop, commit rate, verify rate.
// Run: node_modules/.bin/node bench/audit.ts [records]   (RATE=<records/s> for the paced run, default 5000)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
import { Registry } from 'prom-client';
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

/**
 * CPU time of this (the main) thread and of the other threads of the process (the audit writer
 * thread, libuv, GC helpers), in µs. CPU time rather than event-loop utilization: other work on
 * the machine stretches wall time, not CPU time.
 */
function cpu(): { main: number; other: number } {
  const t = process.threadCpuUsage();
  const p = process.cpuUsage();
  const main = t.user + t.system;
  return { main, other: p.user + p.system - main };
}

/** CPU µs per record since `from`. */
function cpuPerRecord(from: { main: number; other: number }, n: number) {
  const now = cpu();
  return { main: (now.main - from.main) / n, other: (now.other - from.other) / n };
}

const ms = (ns: number) => (ns / 1e6).toFixed(1);

/** Appends as the request path does: bursts of 100 calls, the event loop turning in between. */
async function appendAll(append: (r: AuditRecord) => void, records: AuditRecord[], samples?: Float64Array) {
  for (let i = 0; i < records.length; i++) {
    const t0 = process.hrtime.bigint();
    append(records[i]);
    if (samples) samples[i] = Number(process.hrtime.bigint() - t0);
    if (i % 100 === 99) await yieldToLoop();
  }
}

/** Appends `count` records at `rate` per second, then `settle`s; CPU per record and event-loop delay. */
async function paced(
  append: (r: AuditRecord) => void,
  records: AuditRecord[],
  rate: number,
  count: number,
  settle?: () => Promise<void>,
) {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const c0 = cpu();
  const start = performance.now();
  for (let i = 0; i < count; ) {
    const due = Math.min(count, Math.floor(((performance.now() - start) * rate) / 1000));
    while (i < due) append(records[i++]);
    await sleep(1);
  }
  await settle?.();
  const used = cpuPerRecord(c0, count);
  delay.disable();
  return { ...used, p99: delay.percentile(99), max: delay.max };
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-audit-'));
try {
  const records = Array.from({ length: N }, (_, i) => record(i + 1));

  // 0. The harness alone (append to an array), so that its own CPU can be taken off.
  const sink: AuditRecord[] = [];
  const h0 = cpu();
  await appendAll((r) => sink.push(r), records, new Float64Array(N));
  const harness = cpuPerRecord(h0, N).main;

  // 1. append as the request path sees it, each call timed on its own, as fast as the harness
  //    goes (faster than any gateway); the batcher runs as it would under a server. The CPU covers
  //    everything the log does (append, batching, serialization, commits), close included.
  const registry = new Registry();
  const log = AuditLog.open({ dataDir: join(dir, 'a'), logger: quiet, registry });
  const samples = new Float64Array(N);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const c1 = cpu();
  const start = performance.now();
  await appendAll((r) => log.append(r), records, samples);
  await log.close();
  const sustainedMs = performance.now() - start;
  const used = cpuPerRecord(c1, N);
  delay.disable();
  const full = (await registry.getSingleMetric('portcullis_audit_queue_full_total')?.get())?.values[0]?.value;
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
    `unthrottled appends to SQLite: ${Math.round(N / (sustainedMs / 1000))} records/s; CPU per record: main thread ` +
      `${(used.main - harness).toFixed(2)} µs (harness's ${harness.toFixed(2)} µs taken off), other threads ` +
      `${used.other.toFixed(2)} µs; event-loop delay p99 ${ms(delay.percentile(99))} ms, max ${ms(delay.max)} ms; ` +
      `queue full ${full ?? 0}x`,
  );

  // 1b. At a steady rate, as a busy gateway appends (one record per call, RATE calls/s, 2 s).
  const rate = Number(process.env.RATE ?? 5000);
  const count = Math.min(N, rate * 2);
  const pacing = (await paced((r) => sink.push(r), records, rate, count)).main;
  const pacedLog = AuditLog.open({ dataDir: join(dir, 'p'), logger: quiet });
  const p = await paced(
    (r) => pacedLog.append(r),
    records,
    rate,
    count,
    () => pacedLog.flush(),
  );
  await pacedLog.close();
  console.log(
    `at ${rate} records/s for 2 s: CPU per record: main thread ${(p.main - pacing).toFixed(2)} µs ` +
      `(pacing loop's ${pacing.toFixed(2)} µs taken off), other threads ${p.other.toFixed(2)} µs; ` +
      `event-loop delay p99 ${ms(p.p99)} ms, max ${ms(p.max)} ms`,
  );

  // 2. Raw commit rate: everything queued at once, then flushed in batches of 500.
  const raw = AuditLog.open({ dataDir: join(dir, 'b'), logger: quiet, maxQueue: N, flushIntervalMs: 60_000 });
  for (const r of records) raw.append(r);
  const f0 = performance.now();
  const fc0 = cpu();
  await raw.flush();
  const flushCpu = cpuPerRecord(fc0, N);
  const flushMs = performance.now() - f0;
  await raw.close();
  console.log(
    `commit only (batches of 500 in one transaction each): ${Math.round(N / (flushMs / 1000))} records/s; ` +
      `CPU per record: main thread ${flushCpu.main.toFixed(2)} µs, other threads ${flushCpu.other.toFixed(2)} µs`,
  );

  // 3. verify over the log just written.
  const v0 = performance.now();
  const result = verifyAuditLog(join(dir, 'b', 'audit.db'));
  const verifyMs = performance.now() - v0;
  console.log(`verify: ${Math.round(result.records / (verifyMs / 1000))} records/s (ok=${result.ok})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
