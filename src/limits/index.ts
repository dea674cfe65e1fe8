// Budgets and rate limits over a counter store. The gateway opens one store from the Gateway spec's
// `limits` and, per call: planLimits → store.reserve → usageFacts (Rego input) → forward → settle,
// or release when the call is denied or consumed nothing.
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { RedisCounterStore } from './redis-store.ts';
import { SqliteCounterStore } from './sqlite-store.ts';
import type { CounterStore } from './store.ts';

export * from './cost.ts';
export * from './money.ts';
export * from './period.ts';
export * from './planner.ts';
export { RedisCounterStore, type RedisStoreOptions } from './redis-store.ts';
export { SqliteCounterStore, type SqliteStoreOptions } from './sqlite-store.ts';
export * from './store.ts';
export * from './usage-view.ts';

export interface CounterStoreConfig {
  store?: 'sqlite' | 'redis';
  /** The resolved Redis URL (the Gateway spec names where to read it from); required for redis. */
  redisUrl?: string;
  /** The gateway's data directory; the sqlite store lives in `limits.sqlite` there. */
  dataDir: string;
  registry?: Registry;
  leaseMs?: number;
  onConnectionError?: (message: string) => void;
}

/** Opens the configured store. A Redis store connects in the background and never throws here. */
export function openCounterStore(config: CounterStoreConfig): CounterStore {
  if ((config.store ?? 'sqlite') === 'sqlite') {
    return new SqliteCounterStore({
      path: join(config.dataDir, 'limits.sqlite'),
      registry: config.registry,
      leaseMs: config.leaseMs,
    });
  }
  if (!config.redisUrl) throw new Error('limits.store is redis but no Redis URL was resolved');
  return new RedisCounterStore({
    url: config.redisUrl,
    registry: config.registry,
    leaseMs: config.leaseMs,
    onConnectionError: config.onConnectionError,
  });
}
