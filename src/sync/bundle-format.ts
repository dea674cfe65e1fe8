// OPA bundles as Portcullis ships them: a gzipped tar of named files, signed in OPA's bundle signing
// format — `.signatures.json` holding one JWS whose payload lists every other file with its SHA-256.
// Structured files (`data.json`, `data.yaml`, `.manifest`) are hashed the way OPA hashes them: parsed,
// object keys in sorted order, no whitespace, so a bundle signed here verifies with `opa` and back.
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CompactSign, compactVerify, decodeProtectedHeader } from 'jose';
import * as tar from 'tar';
import { parse as parseYaml } from 'yaml';

export const SIGNATURES_FILE = '.signatures.json';
export const MANIFEST_FILE = '.manifest';
/** Algorithms OPA signs bundles with and this verifier accepts (asymmetric only: a gateway holds no secret). */
export const SIGNING_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
];

/** Bundle files by name, without a leading slash (`policy.wasm`, `rego/access.rego`). */
export type BundleFiles = Map<string, Buffer>;

export class BundleError extends Error {}

export interface BundleManifest {
  revision?: string;
  roots?: string[];
  wasm?: { entrypoint: string; module: string }[];
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Unpacks a `.tar.gz` bundle; a truncated or corrupt download throws a BundleError saying so. */
export function readBundle(archive: Buffer): BundleFiles {
  let raw: Buffer;
  try {
    raw = gunzipSync(archive);
  } catch (err) {
    throw new BundleError(
      `bundle is not a complete gzip stream (truncated download?): ${(err as Error).message}`,
    );
  }
  const files: BundleFiles = new Map();
  const problems: string[] = [];
  const parser = new tar.Parser({
    strict: true,
    onwarn: (_code, message) => problems.push(String(message)),
    onReadEntry: (entry) => {
      if (entry.type !== 'File' && entry.type !== 'OldFile') {
        entry.resume();
        return;
      }
      const name = normaliseName(entry.path);
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => {
        if (name === undefined) problems.push(`unsafe path in bundle: ${entry.path}`);
        else if (files.has(name)) problems.push(`duplicate file in bundle: ${name}`);
        else files.set(name, Buffer.concat(chunks));
      });
    },
  });
  try {
    parser.end(raw);
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (problems.length > 0) throw new BundleError(`bundle archive is damaged: ${problems.join('; ')}`);
  if (files.size === 0) throw new BundleError('bundle archive holds no files');
  return files;
}

function normaliseName(path: string): string | undefined {
  const name = posix.normalize(path.replace(/\\/g, '/')).replace(/^\/+/, '');
  if (name === '' || name === '.' || name.startsWith('../') || name === '..') return undefined;
  return name;
}

/** Packs files into a deterministic `.tar.gz` (sorted names, fixed times and modes). */
export async function writeBundle(files: BundleFiles): Promise<Buffer> {
  const work = mkdtempSync(join(tmpdir(), 'portcullis-bundle-'));
  try {
    const names = [...files.keys()].sort();
    for (const name of names) {
      const target = join(work, name);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, files.get(name)!);
    }
    const chunks: Buffer[] = [];
    // OPA's own bundles name entries from the root (`/policy.wasm`), and its loader expects that.
    const stream = tar.c(
      {
        gzip: true,
        cwd: work,
        portable: true,
        mtime: new Date(0),
        noDirRecurse: true,
        prefix: '/',
        preservePaths: true,
      },
      names,
    );
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function isStructured(name: string): boolean {
  const base = posix.basename(name);
  return base === 'data.json' || base === 'data.yaml' || base === SIGNATURES_FILE || base === MANIFEST_FILE;
}

/** OPA's digest of one bundle file (hex SHA-256). */
export function fileDigest(name: string, content: Buffer): string {
  const hash = createHash('sha256');
  if (!isStructured(name)) return hash.update(content).digest('hex');
  let value: unknown;
  try {
    value = name.endsWith('.yaml')
      ? parseYaml(content.toString('utf8'))
      : JSON.parse(content.toString('utf8'));
  } catch (err) {
    throw new BundleError(
      `${name} is not valid ${name.endsWith('.yaml') ? 'YAML' : 'JSON'}: ${(err as Error).message}`,
    );
  }
  hashStructured(value, hash);
  return hash.digest('hex');
}

function hashStructured(value: unknown, hash: ReturnType<typeof createHash>): void {
  if (Array.isArray(value)) {
    hash.update('[');
    value.forEach((v, i) => {
      if (i > 0) hash.update(',');
      hashStructured(v, hash);
    });
    hash.update(']');
  } else if (value !== null && typeof value === 'object') {
    hash.update('{');
    Object.keys(value)
      .sort()
      .forEach((key, i) => {
        if (i > 0) hash.update(',');
        hash.update(`${goJson(key)}:`);
        hashStructured((value as Record<string, unknown>)[key], hash);
      });
    hash.update('}');
  } else {
    hash.update(goJson(value));
  }
}

/** JSON for a primitive as Go's encoder writes it (it also escapes U+2028 and U+2029). */
function goJson(value: unknown): string {
  return JSON.stringify(value ?? null)
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export interface SigningOptions {
  /** PEM private key (PKCS#8, PKCS#1 or SEC1). */
  privateKey: string;
  algorithm?: string;
  /** Key id written as `kid` and `keyid`; OPA's default is `default`. */
  keyId?: string;
  scope?: string;
  /** Seconds since the epoch; default now. Recorded as `iat` so a gateway can refuse an older bundle. */
  issuedAt?: number;
}

/** Returns `files` plus a `.signatures.json` covering every other file. */
export async function signBundle(files: BundleFiles, options: SigningOptions): Promise<BundleFiles> {
  const algorithm = options.algorithm ?? 'RS256';
  if (!SIGNING_ALGORITHMS.includes(algorithm)) {
    throw new BundleError(
      `unsupported signing algorithm ${algorithm}; use one of ${SIGNING_ALGORITHMS.join(', ')}`,
    );
  }
  const keyId = options.keyId ?? 'default';
  const entries = [...files.entries()]
    .filter(([name]) => name !== SIGNATURES_FILE)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, content]) => ({ name, hash: fileDigest(name, content), algorithm: 'SHA-256' }));
  const payload: Record<string, unknown> = {
    files: entries,
    keyid: keyId,
    iat: options.issuedAt ?? Math.floor(Date.now() / 1000),
  };
  if (options.scope) payload.scope = options.scope;
  let key: KeyObject;
  try {
    key = createPrivateKey(options.privateKey);
  } catch (err) {
    throw new BundleError(`the signing key is not a PEM private key: ${(err as Error).message}`);
  }
  const jws = await new CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ alg: algorithm, kid: keyId, typ: 'JWT' })
    .sign(key);
  const signed = new Map(files);
  signed.set(SIGNATURES_FILE, Buffer.from(`${JSON.stringify({ signatures: [jws] })}\n`));
  return signed;
}

export interface VerificationOptions {
  /** PEM public key or certificate. */
  publicKey: string;
  /** Accepted algorithms; default every asymmetric one. */
  algorithms?: string[];
  /** When set, the signature's key id must equal it. */
  keyId?: string;
  /** Must equal the signature's `scope` (both empty by default, as in OPA). */
  scope?: string;
}

export interface VerifiedSignature {
  keyId: string;
  /** Signing time (seconds since the epoch) when the signer recorded one. */
  issuedAt?: number;
}

/**
 * Checks the bundle's one signature against the public key and every file against the signed digests:
 * a file missing from the signature, a signed file missing from the bundle, or a digest mismatch fails.
 */
export async function verifyBundle(
  files: BundleFiles,
  options: VerificationOptions,
): Promise<VerifiedSignature> {
  const raw = files.get(SIGNATURES_FILE);
  if (!raw) throw new BundleError('bundle is not signed: it has no .signatures.json');
  let signatures: unknown;
  try {
    signatures = (JSON.parse(raw.toString('utf8')) as { signatures?: unknown }).signatures;
  } catch {
    throw new BundleError('.signatures.json is not valid JSON');
  }
  if (!Array.isArray(signatures) || signatures.length !== 1 || typeof signatures[0] !== 'string') {
    throw new BundleError('.signatures.json must hold exactly one JWT');
  }
  const token = signatures[0];
  let key: KeyObject;
  try {
    key = createPublicKey(options.publicKey);
  } catch (err) {
    throw new BundleError(
      `the verification key is not a PEM public key or certificate: ${(err as Error).message}`,
    );
  }
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new BundleError('the bundle signature is not a JWS');
  }
  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(token, key, {
      algorithms: options.algorithms ?? SIGNING_ALGORITHMS,
    }));
  } catch (err) {
    throw new BundleError(
      `bundle signature does not verify with the configured public key (${(err as Error).message})`,
    );
  }
  const payload = JSON.parse(Buffer.from(payloadBytes).toString('utf8')) as {
    files?: { name?: unknown; hash?: unknown; algorithm?: unknown }[];
    keyid?: unknown;
    scope?: unknown;
    iat?: unknown;
  };
  const keyId =
    typeof header.kid === 'string' ? header.kid : typeof payload.keyid === 'string' ? payload.keyid : '';
  if (options.keyId && keyId !== options.keyId) {
    throw new BundleError(`bundle was signed with key id '${keyId}', expected '${options.keyId}'`);
  }
  if ((payload.scope ?? '') !== (options.scope ?? '')) {
    throw new BundleError(
      `bundle signature scope '${String(payload.scope ?? '')}' does not match '${options.scope ?? ''}'`,
    );
  }
  const signed = new Map<string, string>();
  for (const f of payload.files ?? []) {
    if (typeof f.name !== 'string' || typeof f.hash !== 'string')
      throw new BundleError('malformed file entry in bundle signature');
    if (f.algorithm !== 'SHA-256')
      throw new BundleError(`${f.name}: unsupported digest algorithm ${String(f.algorithm)}`);
    signed.set(f.name.replace(/^\/+/, ''), f.hash.toLowerCase());
  }
  for (const [name, content] of files) {
    if (name === SIGNATURES_FILE) continue;
    const want = signed.get(name);
    if (want === undefined) throw new BundleError(`${name} is not covered by the bundle signature`);
    if (fileDigest(name, content) !== want)
      throw new BundleError(`${name}: digest does not match the signed digest`);
    signed.delete(name);
  }
  if (signed.size > 0)
    throw new BundleError(`signed file(s) missing from the bundle: ${[...signed.keys()].join(', ')}`);
  return { keyId, issuedAt: typeof payload.iat === 'number' ? payload.iat : undefined };
}

export function readManifest(files: BundleFiles): BundleManifest {
  const raw = files.get(MANIFEST_FILE);
  if (!raw) throw new BundleError('bundle has no .manifest');
  try {
    return JSON.parse(raw.toString('utf8')) as BundleManifest;
  } catch {
    throw new BundleError('.manifest is not valid JSON');
  }
}
