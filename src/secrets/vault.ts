// HashiCorp Vault (or OpenBao) KV v2 over its HTTP API. Auth is a token (VAULT_TOKEN, or a token file
// such as a Vault Agent sink) or Kubernetes auth: the pod's service-account JWT exchanged at
// auth/<mount>/login for a client token, renewed by logging in again before its lease ends.
import { readFileSync } from 'node:fs';
import { Agent, type Dispatcher, fetch } from 'undici';
import type { SecretFetcher, SecretRef } from './types.ts';

export const KUBERNETES_SA_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface VaultOptions {
  address: string;
  namespace?: string;
  token?: string;
  tokenFile?: string;
  kubernetes?: { role: string; mount?: string; jwtFile?: string };
  /** PEM CA for Vault's TLS certificate. */
  ca?: string;
  timeoutMs?: number;
}

/** Vault settings from the environment Vault's own CLI reads, plus PORTCULLIS_VAULT_K8S_* for Kubernetes auth. */
export function vaultOptionsFromEnv(env: NodeJS.ProcessEnv): VaultOptions | undefined {
  const address = env.VAULT_ADDR ?? env.BAO_ADDR;
  if (!address) return undefined;
  const role = env.PORTCULLIS_VAULT_K8S_ROLE;
  return {
    address,
    namespace: env.VAULT_NAMESPACE || undefined,
    token: env.VAULT_TOKEN || env.BAO_TOKEN || undefined,
    tokenFile: env.PORTCULLIS_VAULT_TOKEN_FILE || undefined,
    kubernetes: role
      ? {
          role,
          mount: env.PORTCULLIS_VAULT_K8S_MOUNT || 'kubernetes',
          jwtFile: env.PORTCULLIS_VAULT_K8S_JWT_FILE,
        }
      : undefined,
    ca: env.VAULT_CACERT ? readFileSync(env.VAULT_CACERT, 'utf8') : undefined,
  };
}

class VaultError extends Error {}

export class VaultFetcher implements SecretFetcher {
  readonly #o: VaultOptions;
  readonly #dispatcher: Dispatcher | undefined;
  #token: { value: string; renewAt: number } | undefined;
  #login: Promise<string> | undefined;

  constructor(options: VaultOptions) {
    if (!options.token && !options.tokenFile && !options.kubernetes) {
      throw new Error('Vault needs VAULT_TOKEN, PORTCULLIS_VAULT_TOKEN_FILE or PORTCULLIS_VAULT_K8S_ROLE');
    }
    this.#o = options;
    this.#dispatcher = options.ca ? new Agent({ connect: { ca: options.ca } }) : undefined;
  }

  async fetch(ref: SecretRef): Promise<string> {
    if (ref.manager !== 'vault') throw new Error(`not a Vault reference: ${ref.manager}`);
    const url = `${this.#o.address.replace(/\/+$/, '')}/v1/${trim(ref.mount)}/data/${trim(ref.path)}`;
    let res = await this.#get(url, await this.#clientToken());
    if (res.status === 403 && this.#o.kubernetes) {
      // The login token may have been revoked early: log in again once.
      this.#token = undefined;
      res = await this.#get(url, await this.#clientToken());
    }
    const body = (await res.json().catch(() => ({}))) as {
      data?: { data?: Record<string, unknown> | null };
      errors?: string[];
    };
    if (res.status === 404)
      throw new VaultError(`Vault has no secret at ${ref.mount}/${ref.path} (or it was deleted)`);
    if (res.status !== 200) {
      throw new VaultError(
        `Vault answered HTTP ${res.status} for ${ref.mount}/${ref.path}${vaultErrors(body.errors)}`,
      );
    }
    const value = body.data?.data?.[ref.field];
    if (typeof value !== 'string' || value === '') {
      throw new VaultError(
        `Vault secret ${ref.mount}/${ref.path} has no non-empty string field '${ref.field}'`,
      );
    }
    return value;
  }

  async #get(url: string, token: string) {
    return fetch(url, {
      headers: { 'x-vault-token': token, ...this.#namespace() },
      dispatcher: this.#dispatcher,
      signal: AbortSignal.timeout(this.#o.timeoutMs ?? 10_000),
    }).catch((err: unknown) => {
      throw new VaultError(`Vault at ${this.#o.address} is unreachable: ${causeOf(err)}`);
    });
  }

  #namespace(): Record<string, string> {
    return this.#o.namespace ? { 'x-vault-namespace': this.#o.namespace } : {};
  }

  async #clientToken(): Promise<string> {
    if (this.#o.token) return this.#o.token;
    if (this.#o.tokenFile) return readFileSync(this.#o.tokenFile, 'utf8').trim();
    if (this.#token && Date.now() < this.#token.renewAt) return this.#token.value;
    this.#login ??= this.#kubernetesLogin().finally(() => {
      this.#login = undefined;
    });
    return this.#login;
  }

  async #kubernetesLogin(): Promise<string> {
    const k8s = this.#o.kubernetes!;
    let jwt: string;
    try {
      jwt = readFileSync(k8s.jwtFile ?? KUBERNETES_SA_TOKEN, 'utf8').trim();
    } catch (err) {
      throw new VaultError(
        `cannot read the service-account token for Vault's Kubernetes auth (${(err as NodeJS.ErrnoException).code})`,
      );
    }
    const url = `${this.#o.address.replace(/\/+$/, '')}/v1/auth/${trim(k8s.mount ?? 'kubernetes')}/login`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.#namespace() },
      body: JSON.stringify({ role: k8s.role, jwt }),
      dispatcher: this.#dispatcher,
      signal: AbortSignal.timeout(this.#o.timeoutMs ?? 10_000),
    }).catch((err: unknown) => {
      throw new VaultError(`Vault at ${this.#o.address} is unreachable: ${causeOf(err)}`);
    });
    const body = (await res.json().catch(() => ({}))) as {
      auth?: { client_token?: string; lease_duration?: number };
      errors?: string[];
    };
    const token = body.auth?.client_token;
    if (res.status !== 200 || !token) {
      throw new VaultError(
        `Vault Kubernetes login as role '${k8s.role}' failed: HTTP ${res.status}${vaultErrors(body.errors)}`,
      );
    }
    const lease = body.auth?.lease_duration ?? 0;
    // Log in again at two thirds of the lease; a lease of 0 means no expiry.
    this.#token = {
      value: token,
      renewAt: lease > 0 ? Date.now() + (lease * 1000 * 2) / 3 : Number.POSITIVE_INFINITY,
    };
    return token;
  }

  async close(): Promise<void> {
    await this.#dispatcher?.close();
  }
}

function trim(path: string): string {
  return path.replace(/^\/+|\/+$/g, '');
}

function vaultErrors(errors: string[] | undefined): string {
  return errors?.length ? `: ${errors.join('; ').slice(0, 300)}` : '';
}

function causeOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
