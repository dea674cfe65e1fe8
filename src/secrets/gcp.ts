// Google Secret Manager through the official client, with Application Default Credentials
// (workload identity, a service-account key file named by GOOGLE_APPLICATION_CREDENTIALS).
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { describeRef, pickField, type SecretFetcher, type SecretRef } from './types.ts';

export interface GcpOptions {
  /** Client settings (an endpoint and channel credentials for a local server in tests). */
  client?: ConstructorParameters<typeof SecretManagerServiceClient>[0];
}

export class GcpSecretManagerFetcher implements SecretFetcher {
  readonly #o: GcpOptions;
  #client: Promise<SecretManagerServiceClient> | undefined;

  constructor(options: GcpOptions = {}) {
    this.#o = options;
  }

  async fetch(ref: SecretRef): Promise<string> {
    if (ref.manager !== 'gcp') throw new Error(`not a Google Secret Manager reference: ${ref.manager}`);
    this.#client ??= import('@google-cloud/secret-manager').then(
      (sdk) => new sdk.SecretManagerServiceClient(this.#o.client),
    );
    const client = await this.#client;
    const name = /\/versions\/[^/]+$/.test(ref.name) ? ref.name : `${ref.name}/versions/latest`;
    let data: Uint8Array | string | null | undefined;
    try {
      const [version] = await client.accessSecretVersion({ name }, { timeout: 10_000, retry: null } as never);
      data = version.payload?.data;
    } catch (err) {
      const e = err as { code?: number; details?: string };
      throw new Error(
        `Google Secret Manager refused ${name}: gRPC code ${e.code ?? '?'}${e.details ? ` (${e.details.slice(0, 200)})` : ''}`,
      );
    }
    const raw = typeof data === 'string' ? data : data ? Buffer.from(data).toString('utf8') : '';
    return pickField(raw, ref.field, describeRef(ref));
  }

  async close(): Promise<void> {
    if (this.#client) await (await this.#client).close();
    this.#client = undefined;
  }
}
