// Reads a sink's secret (a token, a key) from the gateway's environment, where the policy names it.
import type { SecretFromEnv } from './types.ts';

export function secretFromEnv(
  sink: string,
  field: string,
  ref: SecretFromEnv,
  env: Record<string, string | undefined>,
): string {
  const value = env[ref.fromEnv];
  if (value === undefined || value === '') {
    throw new Error(
      `audit sink ${sink}: ${field} reads environment variable ${ref.fromEnv}, which is not set`,
    );
  }
  return value;
}
