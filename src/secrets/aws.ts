// AWS Secrets Manager through the official SDK client, with the SDK's default credential chain (IAM
// role, IRSA web identity, ECS task role, environment). One client per region.
import type { SecretsManagerClient, SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { describeRef, pickField, type SecretFetcher, type SecretRef } from './types.ts';

export interface AwsOptions {
  /** Default region when a reference names none; else the SDK's own resolution (AWS_REGION…). */
  region?: string;
  /** Extra client settings (an endpoint for a local emulator, a request handler in tests). */
  client?: SecretsManagerClientConfig;
}

export class AwsSecretsManagerFetcher implements SecretFetcher {
  readonly #o: AwsOptions;
  readonly #clients = new Map<string, Promise<SecretsManagerClient>>();

  constructor(options: AwsOptions = {}) {
    this.#o = options;
  }

  async fetch(ref: SecretRef): Promise<string> {
    if (ref.manager !== 'aws') throw new Error(`not an AWS reference: ${ref.manager}`);
    const sdk = await import('@aws-sdk/client-secrets-manager');
    const client = await this.#client(ref.region ?? this.#o.region ?? '');
    let out: { SecretString?: string; SecretBinary?: Uint8Array };
    try {
      out = await client.send(new sdk.GetSecretValueCommand({ SecretId: ref.secretId }));
    } catch (err) {
      const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      throw new Error(
        `AWS Secrets Manager refused ${ref.secretId}: ${e.name ?? 'error'}${e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : ''}`,
      );
    }
    const raw = out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary).toString('utf8') : '');
    return pickField(raw, ref.field, describeRef(ref));
  }

  #client(region: string): Promise<SecretsManagerClient> {
    let client = this.#clients.get(region);
    if (!client) {
      client = import('@aws-sdk/client-secrets-manager').then(
        (sdk) =>
          new sdk.SecretsManagerClient({ ...this.#o.client, ...(region ? { region } : {}), maxAttempts: 2 }),
      );
      this.#clients.set(region, client);
    }
    return client;
  }

  async close(): Promise<void> {
    for (const c of this.#clients.values()) (await c).destroy();
    this.#clients.clear();
  }
}
