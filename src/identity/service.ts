// The identity component of a running gateway: the personal-key store (following the policy's
// counter-store choice: SQLite alone, Redis for replicas), the token verifier and the
// authenticator, with the lifecycle every policy-following component shares.
import { join } from 'node:path';
import type { Component } from '../gateway/lifecycle.ts';
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

export class IdentityService implements Component {
  readonly name = 'identity';
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

  #wanted(settings: GatewaySettings): { key: string; url?: string } {
    const env = this.#opts.env ?? process.env;
    const url = env.PORTCULLIS_REDIS_URL || settings.limits.redisUrl;
    return settings.limits.store === 'redis' && url ? { key: `redis:${url}`, url } : { key: 'sqlite' };
  }

  #open(wanted: { key: string; url?: string }): PersonalKeyStore {
    return wanted.url === undefined
      ? new SqlitePersonalKeyStore(join(this.dataDir, 'identity.db'))
      : new RedisPersonalKeyStore({ url: wanted.url, onConnectionError: (m) => this.#error(m) });
  }

  /** Opens the store the settings name (SQLite, or Redis when the counters are in Redis). */
  start(settings: GatewaySettings): void {
    if (this.#store !== undefined) return;
    const wanted = this.#wanted(settings);
    this.#store = this.#open(wanted);
    this.#storeKey = wanted.key;
  }

  /** Switches store when the policy moves the counters; the old one closes after the switch. */
  async reconfigure(settings: GatewaySettings): Promise<{ message: string; detail: object } | undefined> {
    const wanted = this.#wanted(settings);
    if (wanted.key === this.#storeKey && this.#store !== undefined) return undefined;
    const previous = this.#store;
    this.#store = this.#open(wanted);
    this.#storeKey = wanted.key;
    this.authenticator.forget();
    await previous?.close();
    return { message: 'personal keys follow the new policy', detail: { store: this.#store.kind } };
  }

  status(): Record<string, unknown> {
    return {
      store: this.#store?.kind ?? null,
      ...(this.#lastError !== undefined ? { lastError: this.#lastError } : {}),
    };
  }

  async close(): Promise<void> {
    await this.authenticator.close();
    await this.#store?.close();
    this.#store = undefined;
    this.#storeKey = '';
  }
}
