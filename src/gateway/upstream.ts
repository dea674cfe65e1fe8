// Where and how to reach each provider: resolved once per snapshot (credential, extra headers), over one
// keep-alive undici Pool per origin shared across snapshots. The snapshot's base URL already carries any
// PORTCULLIS_UPSTREAM_<PROVIDER> override (applied by the snapshot builder).
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import type { ResolvedProvider, Snapshot } from '../policy/snapshot.ts';
import { adapters } from '../providers/index.ts';
import type { ProviderAdapter } from '../providers/types.ts';
import { readManagedSecret } from '../secrets/index.ts';
import type { SecretRef } from '../secrets/types.ts';

export interface Upstream {
  provider: ResolvedProvider;
  adapter: ProviderAdapter;
  origin: string;
  /** Path prefix of the base URL ('' for an origin). */
  basePath: string;
  pool: Pool;
  /** Credential and extra headers, sent on every call. */
  headers: Readonly<Record<string, string>>;
  /** Why this provider cannot be called (e.g. its credential is not set); never contains a secret. */
  error: string | null;
}

function readSecret(ref: {
  env?: string;
  file?: string;
  fromEnv?: string;
  fromFile?: string;
  secret?: SecretRef;
}): {
  value?: string;
  error?: string;
} {
  if (ref.secret !== undefined) return readManagedSecret(ref.secret);
  const env = ref.env ?? ref.fromEnv;
  const file = ref.file ?? ref.fromFile;
  if (env !== undefined) {
    const v = process.env[env];
    if (v === undefined || v.trim() === '') return { error: `environment variable ${env} is not set` };
    return { value: v.trim() };
  }
  if (file !== undefined) {
    try {
      const v = readFileSync(file, 'utf8').trim();
      if (v === '') return { error: `credential file ${file} is empty` };
      return { value: v };
    } catch (err) {
      return {
        error: `credential file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      };
    }
  }
  return {};
}

export interface UpstreamsOptions {
  /** Connections per upstream origin. */
  connections?: number;
  keepAliveTimeoutMs?: number;
}

export class Upstreams {
  readonly #pools = new Map<string, Pool>();
  readonly #bySnapshot = new WeakMap<Snapshot, Map<string, Upstream>>();
  readonly #opts: UpstreamsOptions;

  constructor(opts: UpstreamsOptions = {}) {
    this.#opts = opts;
  }

  get(snapshot: Snapshot, provider: ResolvedProvider): Upstream {
    let resolved = this.#bySnapshot.get(snapshot);
    if (resolved === undefined) {
      resolved = new Map();
      this.#bySnapshot.set(snapshot, resolved);
    }
    let up = resolved.get(provider.id);
    // A secret manager's credential may rotate or expire within one snapshot: resolved per call.
    if (up === undefined || provider.credential.secret !== undefined) {
      up = this.#resolve(provider);
      resolved.set(provider.id, up);
    }
    return up;
  }

  #resolve(provider: ResolvedProvider): Upstream {
    const adapter = adapters[provider.api];
    const base = new URL(provider.baseUrl);
    const basePath = base.pathname.replace(/\/+$/, '');
    let error: string | null = null;
    const headers: Record<string, string> = {};
    const cred = readSecret(provider.credential);
    if (cred.error !== undefined)
      error = `the credential of provider ${provider.id} is unavailable: ${cred.error}`;
    else if (cred.value !== undefined) Object.assign(headers, adapter.authHeaders(cred.value));
    for (const [name, ref] of Object.entries(provider.headers ?? {})) {
      const v = readSecret(ref as { env?: string; fromEnv?: string; fromFile?: string });
      if (v.error !== undefined)
        error ??= `header ${name} of provider ${provider.id} is unavailable: ${v.error}`;
      else if (v.value !== undefined) headers[name.toLowerCase()] = v.value;
    }
    return {
      provider,
      adapter,
      origin: base.origin,
      basePath,
      pool: this.#pool(base.origin),
      headers,
      error,
    };
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: this.#opts.connections ?? 256,
        keepAliveTimeout: this.#opts.keepAliveTimeoutMs ?? 30_000,
        keepAliveMaxTimeout: 600_000,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.close().catch(() => p.destroy())));
  }
}
