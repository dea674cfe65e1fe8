// Budgets and rate limits: planner cost, reserve + settle latency on the embedded store, and round
// trips per request on Redis. Run: node_modules/.bin/node bench/limits.ts
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CounterStore,
  type PlanInput,
  planLimits,
  RedisCounterStore,
  SqliteCounterStore,
  usageFacts,
  withWorstCase,
} from '../src/limits/index.ts';
import { RedisServer, redisAvailable } from '../test/limits/redis-server.ts';

const input: PlanInput = {
  key: {
    id: 'alice-laptop',
    keyHash: `sha256:${'ab'.repeat(32)}`,
    budgets: [{ period: 'monthly', amountUsd: 1e9 }],
    rateLimits: { requestsPerMinute: 1e9, tokensPerHour: 1e12, maxInFlight: 1e6 },
  },
  teams: [
    { id: 'platform', budgets: [{ period: 'monthly', amountUsd: 1e9, timezone: 'America/New_York' }] },
    { id: 'acme', budgets: [{ period: 'yearly', amountUsd: 1e9 }] },
  ],
  budgetTimezone: 'UTC',
  worstCase: { costMicroUsd: 90_000, tokens: 14_000 },
  now: new Date(),
};

function percentiles(samples: number[]): string {
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))].toFixed(1);
  return `p50 ${at(0.5)} µs  p99 ${at(0.99)} µs  (n=${samples.length})`;
}

const micros = (start: bigint) => Number(process.hrtime.bigint() - start) / 1000;

async function reserveSettle(store: CounterStore, n: number, counters = planLimits(input).counters) {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const now = new Date();
    const t = process.hrtime.bigint();
    const r = await store.reserve({ requestId: randomUUID(), counters, now });
    if (!r.reservationId) throw new Error('bench budget exhausted');
    await store.settle(r.reservationId, { costMicroUsd: 40_000, tokens: 9_000 });
    samples.push(micros(t));
  }
  return samples;
}

{
  const samples: number[] = [];
  const result = {
    ok: true,
    reservationId: 'x',
    counters: planLimits(input).counters.map((c) => ({
      id: c.id,
      used: 0,
      limit: c.limit,
      amount: 1,
      fits: true,
    })),
  };
  for (let i = 0; i < 20_000; i++) {
    const t = process.hrtime.bigint();
    const plan = planLimits({ ...input, now: new Date() });
    usageFacts(plan, result);
    samples.push(micros(t));
  }
  console.log(
    `planner: planLimits + usageFacts (3 budgets, 3 rate limits)  ${percentiles(samples.slice(2_000))}`,
  );
  // What the gateway does per call: the key's plan is kept until a period turns.
  const kept = planLimits(input);
  const reused: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const t = process.hrtime.bigint();
    usageFacts(withWorstCase(kept, input.worstCase, Date.now()), result);
    reused.push(micros(t));
  }
  console.log(
    `planner: plan reused (withWorstCase + usageFacts)           ${percentiles(reused.slice(2_000))}`,
  );
}

{
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  const store = new SqliteCounterStore({ path: join(dir, 'limits.sqlite') });
  await reserveSettle(store, 2_000);
  const samples = await reserveSettle(store, 20_000);
  console.log(`sqlite: reserve + settle, 6 counters                          ${percentiles(samples)}`);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

if (!redisAvailable()) {
  console.log('redis: skipped (redis-server not installed)');
} else {
  const server = new RedisServer();
  await server.start();
  try {
    const store = new RedisCounterStore({ url: server.url });
    await store.ready();
    await reserveSettle(store, 500);
    const client = store.client;
    const sent = { reserve: 0, settle: 0 };
    let phase: 'reserve' | 'settle' = 'reserve';
    const original = client.sendCommand.bind(client);
    client.sendCommand = ((command: never) => {
      sent[phase]++;
      return original(command);
    }) as typeof client.sendCommand;
    const counters = planLimits(input).counters;
    const n = 3_000;
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = process.hrtime.bigint();
      phase = 'reserve';
      const r = await store.reserve({ requestId: randomUUID(), counters, now: new Date() });
      phase = 'settle';
      await store.settle(r.reservationId ?? '', { costMicroUsd: 40_000, tokens: 9_000 });
      samples.push(micros(t));
    }
    console.log(`redis: reserve + settle, 6 counters, loopback                 ${percentiles(samples)}`);
    console.log(
      `redis: commands sent per request: reserve ${sent.reserve / n}, settle ${sent.settle / n} (EVALSHA each)`,
    );
    await store.close();
  } finally {
    await server.destroy();
  }
}
