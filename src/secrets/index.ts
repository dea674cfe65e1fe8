// Provider credentials from secret managers: one process-wide cache the upstream resolver reads
// synchronously, configured from the gateway's environment, warmed when a policy naming the
// references activates.
import type { Logger } from 'pino';
import type { Snapshot } from '../policy/snapshot.ts';
import { AwsSecretsManagerFetcher } from './aws.ts';
import { AzureKeyVaultFetcher } from './azure.ts';
import type { SecretCache, SecretRead } from './cache.ts';
import { GcpSecretManagerFetcher } from './gcp.ts';
import type { SecretFetcher, SecretManagerName, SecretRef } from './types.ts';
import { VaultFetcher, vaultOptionsFromEnv } from './vault.ts';

export { SecretCache, type SecretRead } from './cache.ts';
export { describeRef, type SecretRef, secretRefOf } from './types.ts';

/** Clients for every manager the environment can reach; the clouds' SDKs find their own credentials. */
export function fetchersFromEnv(env: NodeJS.ProcessEnv): Partial<Record<SecretManagerName, SecretFetcher>> {
  const vault = vaultOptionsFromEnv(env);
  return {
    ...(vault ? { vault: new VaultFetcher(vault) } : {}),
    aws: new AwsSecretsManagerFetcher({
      region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION,
      client: env.PORTCULLIS_AWS_SECRETS_ENDPOINT
        ? { endpoint: env.PORTCULLIS_AWS_SECRETS_ENDPOINT }
        : undefined,
    }),
    gcp: new GcpSecretManagerFetcher(),
    azure: new AzureKeyVaultFetcher(),
  };
}

let shared: SecretCache | undefined;

/** Installs the cache the gateway reads credentials from (serve does this at start). */
export function installSecretCache(cache: SecretCache | undefined): void {
  shared = cache;
}

/** The current value of a managed credential, or why there is none; never waits. */
export function readManagedSecret(ref: SecretRef): SecretRead {
  if (!shared) return { error: 'no secret-manager clients are configured in this process' };
  return shared.read(ref);
}

/** The secret-manager references a snapshot's providers use. */
export function managedRefs(snapshot: Snapshot): SecretRef[] {
  return [...snapshot.providers.values()].flatMap((p) => (p.credential.secret ? [p.credential.secret] : []));
}

/** Fetches a new snapshot's references and drops those no longer named; logs what cannot be read. */
export async function warmSecrets(cache: SecretCache, snapshot: Snapshot, log: Logger): Promise<void> {
  const refs = managedRefs(snapshot);
  cache.retain(refs);
  const results = await Promise.all(refs.map((ref) => cache.load(ref)));
  for (const r of results)
    if (r.error) log.warn({ revision: snapshot.revision, err: r.error }, 'provider credential unavailable');
}
