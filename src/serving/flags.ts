// The `serve` options of a production deployment (signed bundle source, TLS, drain bound), read from the parsed
// command line so that serve.ts only passes them along.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { usageError } from '../cli/errors.ts';
import type { SyncSourceConfig } from '../sync/types.ts';

type Parsed = Record<string, unknown>;

export interface ServingFlags {
  tls?: { certFile: string; keyFile: string };
  drainSeconds?: number;
}

export function parseServingFlags(opts: Parsed): ServingFlags {
  const cert = opts.tlsCert as string | undefined;
  const key = opts.tlsKey as string | undefined;
  if (Boolean(cert) !== Boolean(key)) throw usageError('--tls-cert and --tls-key go together');
  const drain = opts.drainSeconds;
  const drainSeconds = drain === undefined ? undefined : Number(drain);
  if (drainSeconds !== undefined && !(Number.isFinite(drainSeconds) && drainSeconds >= 0)) {
    throw usageError(`--drain-seconds must be a number of seconds, not '${String(drain)}'`);
  }
  return { tls: cert && key ? { certFile: resolve(cert), keyFile: resolve(key) } : undefined, drainSeconds };
}

export interface BundleFlags {
  url: string;
  publicKeyFile: string;
  keyId?: string;
  scope?: string;
  caFile?: string;
}

export function parseBundleFlags(opts: Parsed): BundleFlags | undefined {
  const url = opts.bundle as string | undefined;
  if (!url) return undefined;
  if (!/^https?:\/\//.test(url)) throw usageError(`--bundle must be an http(s) URL, not '${url}'`);
  const key = (opts.bundlePublicKey as string | undefined) ?? process.env.PORTCULLIS_BUNDLE_PUBLIC_KEY_FILE;
  if (!key) {
    throw usageError(
      '--bundle needs --bundle-public-key FILE: an unsigned bundle is never served',
      'give the PEM public key that matches the key CI signs bundles with',
    );
  }
  const caFile = opts.bundleCa as string | undefined;
  return {
    url,
    publicKeyFile: resolve(key),
    keyId: opts.bundleKeyId as string | undefined,
    scope: opts.bundleScope as string | undefined,
    caFile: caFile ? resolve(caFile) : undefined,
  };
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw usageError(
      `cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

export function bundleSource(flags: BundleFlags, env = process.env): SyncSourceConfig {
  const token = env.PORTCULLIS_BUNDLE_TOKEN;
  return {
    kind: 'bundle',
    url: flags.url,
    publicKey: readPem(flags.publicKeyFile, 'bundle public key'),
    keyId: flags.keyId,
    scope: flags.scope,
    ca: flags.caFile ? readPem(flags.caFile, 'bundle CA') : undefined,
    headers: token ? { authorization: `Bearer ${token}` } : undefined,
  };
}
