// Wires the secret-manager cache into a serving gateway: installed for the upstream resolver,
// warmed before the first call and again whenever a new policy snapshot activates.
import type { Logger } from 'pino';
import type { SnapshotHolder } from '../gateway/snapshot-holder.ts';
import { fetchersFromEnv, installSecretCache, SecretCache, warmSecrets } from '../secrets/index.ts';

export interface FollowedSecrets {
  /** Resolves once the active snapshot's credentials have been fetched (or failed, logged). */
  ready(): Promise<void>;
  status(): ReturnType<SecretCache['status']>;
  close(): Promise<void>;
}

export function followSecrets(holder: SnapshotHolder, log: Logger, env = process.env): FollowedSecrets {
  const cache = new SecretCache({ fetchers: fetchersFromEnv(env), log: log.child({ component: 'secrets' }) });
  installSecretCache(cache);
  let warming: Promise<void> = Promise.resolve();
  const unsubscribe = holder.onSwap((snapshot) => {
    warming = warmSecrets(cache, snapshot, log);
  });
  return {
    async ready() {
      const current = holder.current();
      if (current) await warmSecrets(cache, current, log);
      await warming;
    },
    status: () => cache.status(),
    async close() {
      unsubscribe();
      installSecretCache(undefined);
      await cache.close();
    },
  };
}
