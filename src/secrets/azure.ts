// Azure Key Vault secrets through the official client, authenticated with @azure/identity's
// DefaultAzureCredential (managed identity, workload identity, environment). One client per vault.
import type { TokenCredential } from '@azure/identity';
import type { SecretClient, SecretClientOptions } from '@azure/keyvault-secrets';
import { describeRef, pickField, type SecretFetcher, type SecretRef } from './types.ts';

export interface AzureOptions {
  credential?: TokenCredential;
  /** Client settings (the SDK's pluggable HTTP client in tests). */
  client?: SecretClientOptions;
}

export class AzureKeyVaultFetcher implements SecretFetcher {
  readonly #o: AzureOptions;
  readonly #clients = new Map<string, Promise<SecretClient>>();

  constructor(options: AzureOptions = {}) {
    this.#o = options;
  }

  async fetch(ref: SecretRef): Promise<string> {
    if (ref.manager !== 'azure') throw new Error(`not an Azure Key Vault reference: ${ref.manager}`);
    const client = await this.#client(ref.vaultUrl);
    let value: string | undefined;
    try {
      value = (await client.getSecret(ref.name)).value;
    } catch (err) {
      const e = err as { name?: string; code?: string; statusCode?: number };
      throw new Error(
        `Azure Key Vault refused secret ${ref.name}: ${e.code ?? e.name ?? 'error'}${e.statusCode ? ` (HTTP ${e.statusCode})` : ''}`,
      );
    }
    return pickField(value ?? '', ref.field, describeRef(ref));
  }

  #client(vaultUrl: string): Promise<SecretClient> {
    let client = this.#clients.get(vaultUrl);
    if (!client) {
      client = (async () => {
        const { SecretClient } = await import('@azure/keyvault-secrets');
        const credential =
          this.#o.credential ?? new (await import('@azure/identity')).DefaultAzureCredential();
        return new SecretClient(vaultUrl, credential, { ...this.#o.client, retryOptions: { maxRetries: 1 } });
      })();
      this.#clients.set(vaultUrl, client);
    }
    return client;
  }
}
