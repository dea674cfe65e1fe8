// The counter store as a lifecycle component: opened from the first policy's `limits` settings,
// switched when a later policy names another store or Redis URL. New calls reserve in the new store
// while calls in flight settle in the one they reserved in, which closes once they have.
import type { Registry } from 'prom-client';
import { type CounterStore, openCounterStore } from '../../limits/index.ts';
import type { GatewaySettings } from '../../policy/snapshot.ts';
import type { Component } from '../lifecycle.ts';
import type { PluginLogger } from '../plugins/limits.ts';

export interface CounterStoreOptions {
  dataDir: string;
  registry?: Registry;
  logger: PluginLogger;
  env?: Record<string, string | undefined>;
  /**
   * Opens the store `settings` name, in place of counterStoreFor (a cluster worker reaches the
   * primary's SQLite store this way); `open` is counterStoreFor itself.
   */
  openStore?(settings: GatewaySettings, open: (settings: GatewaySettings) => CounterStore): CounterStore;
  /** Resolves once no reservation made in `store` is left to settle (the limits plugin knows). */
  drained(store: CounterStore): Promise<void>;
}

/** How long a counter store a policy switches to may take to connect before the switch is given up. */
const STORE_CONNECT_TIMEOUT_MS = 5_000;

export interface CounterStoreComponent extends Component {
  /** The store taking new calls, opened from `settings` if nothing is open yet (undefined once closed). */
  current(settings: GatewaySettings): CounterStore | undefined;
}

/**
 * The counter store the settings name. `PORTCULLIS_REDIS_URL`, when set, replaces the policy's Redis
 * URL (tests, operations); the store kind still comes from policy.
 */
export function counterStoreFor(
  settings: GatewaySettings,
  opts: Omit<CounterStoreOptions, 'drained'>,
): CounterStore {
  const env = opts.env ?? process.env;
  return openCounterStore({
    store: settings.limits.store,
    redisUrl: env.PORTCULLIS_REDIS_URL || settings.limits.redisUrl,
    dataDir: opts.dataDir,
    registry: opts.registry,
    onConnectionError: (message) =>
      opts.logger.warn({ err: message }, 'redis counter store connection error'),
  });
}

export function counterStoreComponent(opts: CounterStoreOptions): CounterStoreComponent {
  const env = opts.env ?? process.env;
  const direct = (settings: GatewaySettings) => counterStoreFor(settings, { ...opts, env });
  const open = (settings: GatewaySettings) => opts.openStore?.(settings, direct) ?? direct(settings);
  let store: CounterStore | undefined;
  let inUse: string | undefined;
  let closed = false;
  /** Stores replaced by a policy change, each closing once the calls that reserved in it settled. */
  const retiring = new Map<CounterStore, Promise<void>>();
  // PORTCULLIS_REDIS_URL, when set, is the URL whatever the policy says (see counterStoreFor).
  const identity = (settings: GatewaySettings) =>
    JSON.stringify([settings.limits.store, env.PORTCULLIS_REDIS_URL || settings.limits.redisUrl || '']);

  const start = (settings: GatewaySettings): void => {
    if (store !== undefined || closed) return;
    store = open(settings);
    inUse = identity(settings);
  };

  return {
    name: 'counterStore',
    start,
    current(settings) {
      if (store === undefined) start(settings);
      return store;
    },
    async reconfigure(settings) {
      const wanted = identity(settings);
      if (store === undefined || wanted === inUse) return undefined;
      // One process opens a SQLite file once: a SQLite store still settling its last calls closes first.
      if (settings.limits.store === 'sqlite') await Promise.all(retiring.values());
      if (closed) return undefined;
      const next = open(settings);
      // A Redis that does not answer would refuse every call (failMode closed) or admit them unchecked
      // (open): the running store keeps the calls until the new one is connected.
      try {
        await next.ready?.(STORE_CONNECT_TIMEOUT_MS);
      } catch (err) {
        await next.close();
        throw new Error(
          `the ${next.kind} counter store did not connect within ${STORE_CONNECT_TIMEOUT_MS / 1000} s; the running one keeps counting`,
          { cause: err },
        );
      }
      if (closed) {
        await next.close();
        return undefined;
      }
      const old = store;
      store = next;
      inUse = wanted;
      const retired: Promise<void> = opts
        .drained(old)
        .then(() => old.close())
        .catch((err: unknown) =>
          opts.logger.error({ err: (err as Error).message }, 'closing the replaced counter store failed'),
        )
        .finally(() => retiring.delete(old));
      retiring.set(old, retired);
      return { message: 'new calls count in the new counter store', detail: { counterStore: next.kind } };
    },
    status() {
      return { kind: store?.kind ?? null };
    },
    async close() {
      closed = true;
      const s = store;
      store = undefined;
      // Replaced stores close now too: a call still holding a reservation there (a long MCP tool
      // call) would otherwise hold up the shutdown.
      await Promise.all([s?.close(), ...[...retiring.keys()].map((r) => r.close())]);
    },
  };
}
