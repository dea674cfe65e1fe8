// The identity component of a running gateway: the personal-key store (following the policy's
// counter-store choice: SQLite alone, Redis for replicas), the token verifier and the
// authenticator, with the lifecycle every policy-following component shares.
import { join } from 'node:path';
import type { GatewaySettings } from '../policy/snapshot.ts';
import { IdentityAuthenticator } from './authenticator.ts';
import { TokenVerifier } from './jwt.ts';
import type { PersonalKeyStore } from './key-store.ts';
import { RedisPersonalKeyStore } from './redis-keys.ts';
import { SqlitePersonalKeyStore } from './sqlite-keys.ts';

export interface IdentityServiceOptions {
  dataDir: string;
  /** `PORTCULLIS_REDIS_URL` overrides the policy's, as for the counter store. */
  env?: NodeJS.ProcessEnv;
  onError?: (message: string) => void;
}

export class IdentityService {
  readonly verifier = new TokenVerifier();
  readonly authenticator: IdentityAuthenticator;
  readonly dataDir: string;
  readonly #opts: IdentityServiceOptions;
  #store: PersonalKeyStore | undefined;
  #storeKey = '';
  #lastError: string | undefined;

  constructor(opts: IdentityServiceOptions) {
    this.#opts = opts;
    this.dataDir = opts.dataDir;
    this.authenticator = new IdentityAuthenticator({
      store: () => this.#store,
      verifier: this.verifier,
      onError: (m) => this.#error(m),
    });
  }

  #error(message: string): void {
    this.#lastError = message;
    this.#opts.onError?.(message);
  }

  get store(): PersonalKeyStore | undefined {
    return this.#store;
  }

  /** Opens (or switches to) the store the settings name; the old one is closed after the switch. */
  async applySettings(settings: GatewaySettings): Promise<void> {
    const env = this.#opts.env ?? process.env;
    const redisUrl = env.PORTCULLIS_REDIS_URL || settings.limits.redisUrl;
    const wanted = settings.limits.store === 'redis' && redisUrl ? `redis:${redisUrl}` : 'sqlite';
    if (wanted === this.#storeKey) return;
    const next: PersonalKeyStore =
      wanted === 'sqlite'
        ? new SqlitePersonalKeyStore(join(this.dataDir, 'identity.db'))
        : new RedisPersonalKeyStore({ url: redisUrl as string, onConnectionError: (m) => this.#error(m) });
    const previous = this.#store;
    this.#store = next;
    this.#storeKey = wanted;
    this.authenticator.forget();
    await previous?.close();
  }

  status(): Record<string, unknown> {
    return {
      identity: {
        store: this.#store?.kind ?? null,
        ...(this.#lastError !== undefined ? { lastError: this.#lastError } : {}),
      },
    };
  }

  async close(): Promise<void> {
    await this.authenticator.close();
    await this.#store?.close();
    this.#store = undefined;
    this.#storeKey = '';
  }
}
