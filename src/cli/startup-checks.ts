// What `serve` checks and says at start, before any call: where each provider's calls will go,
// PORTCULLIS_UPSTREAM_* variables that name no provider (calls would silently go to the real API),
// and provider credentials that are not set (the first call would fail).
import { accessSync, constants } from 'node:fs';
import { upstreamOverrideVar } from '../policy/resolve.ts';
import type { ResolvedProvider, Snapshot } from '../policy/snapshot.ts';
import { readManagedSecret } from '../secrets/index.ts';
import { usageError } from './errors.ts';

const PREFIX = 'PORTCULLIS_UPSTREAM_';

export interface UpstreamStatus {
  provider: string;
  api: string;
  /** Where calls go. */
  baseUrl: string;
  /** The variable that set baseUrl, or null when it is the policy's own. */
  overriddenBy: string | null;
  /** Why calls to this provider will fail, or null. Names a variable or file, never a value. */
  credentialProblem: string | null;
}

function credentialProblem(p: ResolvedProvider, env: NodeJS.ProcessEnv): string | null {
  if (p.credential.secret) return readManagedSecret(p.credential.secret).error ?? null;
  const ref = p.credential as { env?: string; file?: string; fromEnv?: string; fromFile?: string };
  const name = ref.env ?? ref.fromEnv;
  const file = ref.file ?? ref.fromFile;
  if (name !== undefined) return env[name]?.trim() ? null : `environment variable ${name} is not set`;
  if (file !== undefined) {
    try {
      accessSync(file, constants.R_OK);
      return null;
    } catch {
      return `credential file ${file} cannot be read`;
    }
  }
  return null;
}

export function upstreamStatus(snapshot: Snapshot | undefined, env = process.env): UpstreamStatus[] {
  if (!snapshot) return [];
  return [...snapshot.providers.values()].map((p) => {
    const name = upstreamOverrideVar(p.id);
    return {
      provider: p.id,
      api: p.api,
      baseUrl: p.baseUrl,
      overriddenBy: env[name] ? name : null,
      credentialProblem: credentialProblem(p, env),
    };
  });
}

/**
 * Refuses PORTCULLIS_UPSTREAM_<NAME> variables that match no provider of the policy, naming the ones
 * that exist (and the provider that speaks an API, when the name is an API's: GEMINI → google).
 */
export function checkUpstreamVariables(snapshot: Snapshot, env = process.env): void {
  const providers = [...snapshot.providers.values()];
  const known = new Map(providers.map((p) => [upstreamOverrideVar(p.id), p]));
  const unknown = Object.keys(env).filter((k) => k.startsWith(PREFIX) && env[k] && !known.has(k));
  if (unknown.length === 0) return;
  const lines = unknown.sort().map((name) => {
    const suffix = name.slice(PREFIX.length).toLowerCase();
    const byApi = providers.filter((p) => p.api === suffix);
    const meant =
      byApi.length > 0
        ? ` (the ${suffix} API is served by ${byApi.map((p) => upstreamOverrideVar(p.id)).join(', ')})`
        : '';
    return `${name} names no provider of this policy${meant}`;
  });
  throw usageError(
    lines.join('; '),
    `the variables that exist here are ${[...known.keys()].join(', ')} (PORTCULLIS_UPSTREAM_ + the provider's name)`,
  );
}

/** Lines for the console at start: each provider's upstream and what is missing. */
export function describeUpstreams(statuses: UpstreamStatus[]): string[] {
  return statuses.map((s) => {
    const origin = s.overriddenBy ? `from ${s.overriddenBy}` : 'from the policy';
    const problem = s.credentialProblem ? `; calls will fail: ${s.credentialProblem}` : '';
    return `  ${s.provider} (${s.api}) → ${s.baseUrl} (${origin})${problem}`;
  });
}
