// A reference to a credential held by a secret manager, as the policy names it (Provider
// `credential.fromVault` etc.), and what each manager's client must do for the cache.
import type { Provider } from '../policy/generated/provider.ts';

type Credential = NonNullable<Provider['spec']['credential']>;

export type SecretRef =
  | { manager: 'vault'; mount: string; path: string; field: string; ttlSeconds?: number }
  | { manager: 'aws'; secretId: string; field?: string; region?: string; ttlSeconds?: number }
  | { manager: 'gcp'; name: string; field?: string; ttlSeconds?: number }
  | { manager: 'azure'; vaultUrl: string; name: string; field?: string; ttlSeconds?: number };

export type SecretManagerName = SecretRef['manager'];

/** Fetches the current value of a secret; throws with a message that never contains a secret. */
export interface SecretFetcher {
  fetch(ref: SecretRef): Promise<string>;
  close?(): Promise<void>;
}

/** The secret-manager reference of a Provider credential, if it has one. */
export function secretRefOf(credential: Credential): SecretRef | undefined {
  if (credential.fromVault) return { manager: 'vault', mount: 'secret', ...credential.fromVault };
  if (credential.fromAwsSecretsManager) return { manager: 'aws', ...credential.fromAwsSecretsManager };
  if (credential.fromGcpSecretManager) return { manager: 'gcp', ...credential.fromGcpSecretManager };
  if (credential.fromAzureKeyVault) return { manager: 'azure', ...credential.fromAzureKeyVault };
  return undefined;
}

/** Where the secret is, for logs and errors: never its value. */
export function describeRef(ref: SecretRef): string {
  switch (ref.manager) {
    case 'vault':
      return `Vault ${ref.mount}/${ref.path}#${ref.field}`;
    case 'aws':
      return `AWS Secrets Manager ${ref.secretId}${ref.field ? `#${ref.field}` : ''}`;
    case 'gcp':
      return `Google Secret Manager ${ref.name}${ref.field ? `#${ref.field}` : ''}`;
    case 'azure':
      return `Azure Key Vault ${ref.vaultUrl.replace(/\/+$/, '')}/secrets/${ref.name}${ref.field ? `#${ref.field}` : ''}`;
  }
}

/** A JSON secret's field, or the whole string when no field is asked for. */
export function pickField(raw: string, field: string | undefined, where: string): string {
  if (field === undefined) return raw;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`${where} is not a JSON object, so it has no field '${field}'`);
  }
  const value = (parsed as Record<string, unknown> | null)?.[field];
  if (typeof value !== 'string' || value === '')
    throw new Error(`${where} has no non-empty string field '${field}'`);
  return value;
}
