// A signed policy bundle served over HTTP(S) as a policy source. Each look is a conditional GET
// (If-None-Match with the last ETag); a new download is checked in full before the manager sees it:
// a complete archive, one signature that verifies with the configured public key over every file, a
// Portcullis layout, one revision named alike by the manifest and the policy data, and a signing time
// not older than the bundle serving now. Verified archives are kept under `<dataDir>/bundles/` so a
// restart with the server unreachable can serve the last good one, re-verified from disk.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, type Dispatcher, fetch } from 'undici';
import { BUNDLE_FORMAT, POLICY_PREFIX, type PortcullisBundleMetadata } from './bundle-build.ts';
import {
  BundleError,
  type BundleFiles,
  readBundle,
  readManifest,
  type VerificationOptions,
  verifyBundle,
} from './bundle-format.ts';
import { redactCredentials } from './redact.ts';
import type { Checkout, RevisionSource, SourceDistrust } from './types.ts';

export interface BundleSourceOptions extends VerificationOptions {
  url: string;
  dataDir: string;
  /** Extra request headers (e.g. Authorization for a private bundle server); never logged. */
  headers?: Record<string, string>;
  /** PEM CA bundle trusted for an HTTPS bundle server, beside the system's. */
  ca?: string;
  timeoutMs?: number;
  /** Largest archive accepted; default 64 MiB. */
  maxBytes?: number;
}

interface Candidate {
  id: string;
  etag?: string;
  files?: BundleFiles;
  archive?: Buffer;
  revision?: string;
  issuedAt?: number;
  commit?: PortcullisBundleMetadata['commit'];
  distrust?: SourceDistrust;
}

const REVISION = /^([0-9a-f]{40}|[0-9a-f]{64}|sha256:[0-9a-f]{64})$/;

export class BundleSource implements RevisionSource {
  readonly description: string;
  #o: BundleSourceOptions;
  #dir: string;
  #dispatcher: Dispatcher | undefined;
  #latest: Candidate | undefined;
  #activeIssuedAt: number | undefined;

  constructor(options: BundleSourceOptions) {
    this.#o = options;
    this.description = `bundle ${describeUrl(options.url)}`;
    this.#dir = join(options.dataDir, 'bundles');
    this.#dispatcher = options.ca ? new Agent({ connect: { ca: options.ca } }) : undefined;
    this.#activeIssuedAt = this.#readState()?.issuedAt;
  }

  async latest(): Promise<string> {
    const headers: Record<string, string> = {
      accept: 'application/gzip, application/octet-stream',
      ...this.#o.headers,
    };
    if (this.#latest?.etag) headers['if-none-match'] = this.#latest.etag;
    const res = await fetch(this.#o.url, {
      headers,
      dispatcher: this.#dispatcher,
      signal: AbortSignal.timeout(this.#o.timeoutMs ?? 30_000),
    }).catch((err: unknown) => {
      throw new Error(`bundle server unreachable: ${causeText(err)}`);
    });
    if (res.status === 304 && this.#latest) return this.#latest.id;
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`bundle server answered HTTP ${res.status}`);
    }
    const archive = await readBody(res, this.#o.maxBytes ?? 64 * 1024 * 1024);
    const etag = res.headers.get('etag') ?? undefined;
    const candidate = await this.#inspect(archive, etag);
    this.#latest = candidate;
    return candidate.id;
  }

  /** Verifies an archive; what cannot be trusted becomes a candidate that carries the reason. */
  async #inspect(archive: Buffer, etag: string | undefined): Promise<Candidate> {
    const digest = createHash('sha256').update(archive).digest('hex');
    const untrusted = (reason: SourceDistrust['reason'], message: string): Candidate => ({
      id: `bundle sha256:${digest.slice(0, 16)}`,
      etag,
      distrust: { reason, message },
    });
    // A damaged archive throws: the download is retried, unlike a complete bundle that fails a check.
    const files = readBundle(archive);
    let issuedAt: number | undefined;
    try {
      ({ issuedAt } = await verifyBundle(files, this.#o));
    } catch (err) {
      if (err instanceof BundleError) return untrusted('unsigned', err.message);
      throw err;
    }
    let meta: PortcullisBundleMetadata;
    try {
      meta = checkLayout(files);
    } catch (err) {
      if (err instanceof BundleError) return untrusted('invalid', err.message);
      throw err;
    }
    if (issuedAt !== undefined && this.#activeIssuedAt !== undefined && issuedAt < this.#activeIssuedAt) {
      return untrusted(
        'invalid',
        `bundle for revision ${meta.revision} was signed at ${iso(issuedAt)}, before the bundle serving now (${iso(this.#activeIssuedAt)}); an older bundle is not rolled back to`,
      );
    }
    return {
      id: meta.revision,
      etag,
      files,
      archive,
      revision: meta.revision,
      issuedAt,
      commit: meta.commit,
    };
  }

  async verify(revision: string): Promise<SourceDistrust | undefined> {
    if (this.#latest?.id === revision) return this.#latest.distrust;
    return undefined;
  }

  async checkout(revision: string): Promise<Checkout> {
    let candidate = this.#latest?.id === revision ? this.#latest : undefined;
    if (!candidate?.files) candidate = await this.#fromDisk(revision);
    if (!candidate.files || !candidate.archive) throw new Error(`bundle ${revision} is not available`);
    const dir = join(this.#dir, `${fileName(revision)}.d`);
    rmSync(dir, { recursive: true, force: true });
    for (const [name, content] of candidate.files) {
      if (!name.startsWith(POLICY_PREFIX)) continue;
      const target = join(dir, name.slice(POLICY_PREFIX.length));
      mkdirSync(join(target, '..'), { recursive: true });
      writeFileSync(target, content);
    }
    mkdirSync(dir, { recursive: true });
    this.#save(revision, candidate.archive, candidate.issuedAt);
    return {
      dir,
      source: { revision, dir, commit: candidate.commit },
      wasm: candidate.files.get('policy.wasm'),
    };
  }

  async hasLocally(revision: string): Promise<boolean> {
    return existsSync(join(this.#dir, `${fileName(revision)}.tar.gz`));
  }

  async release(keep: string | undefined): Promise<void> {
    if (!existsSync(this.#dir)) return;
    const kept = keep === undefined ? undefined : fileName(keep);
    if (keep !== undefined) {
      const issuedAt = this.#latest?.id === keep ? this.#latest.issuedAt : this.#readState(keep)?.issuedAt;
      if (issuedAt !== undefined) this.#activeIssuedAt = issuedAt;
      writeAtomic(join(this.#dir, 'active.json'), JSON.stringify({ revision: keep, issuedAt }));
    }
    for (const entry of readdirSync(this.#dir)) {
      if (entry === 'active.json' || (kept && entry.startsWith(`${kept}.`))) continue;
      rmSync(join(this.#dir, entry), { recursive: true, force: true });
    }
  }

  async #fromDisk(revision: string): Promise<Candidate> {
    const archive = readFileSync(join(this.#dir, `${fileName(revision)}.tar.gz`));
    const files = readBundle(archive);
    const { issuedAt } = await verifyBundle(files, this.#o);
    const meta = checkLayout(files);
    if (meta.revision !== revision)
      throw new Error(`stored bundle names revision ${meta.revision}, not ${revision}`);
    return { id: revision, files, archive, revision, issuedAt, commit: meta.commit };
  }

  #save(revision: string, archive: Buffer, issuedAt: number | undefined): void {
    mkdirSync(this.#dir, { recursive: true });
    writeAtomic(join(this.#dir, `${fileName(revision)}.tar.gz`), archive);
    writeAtomic(join(this.#dir, `${fileName(revision)}.json`), JSON.stringify({ revision, issuedAt }));
  }

  #readState(revision?: string): { revision: string; issuedAt?: number } | undefined {
    const file = join(this.#dir, revision === undefined ? 'active.json' : `${fileName(revision)}.json`);
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return undefined;
    }
  }
}

/** The Portcullis part of a verified bundle: its metadata, Wasm, documents and one revision throughout. */
function checkLayout(files: BundleFiles): PortcullisBundleMetadata {
  const manifest = readManifest(files);
  const meta = (manifest.metadata as { portcullis?: PortcullisBundleMetadata } | undefined)?.portcullis;
  if (!meta) throw new BundleError('not a Portcullis policy bundle: .manifest has no metadata.portcullis');
  if (meta.format !== BUNDLE_FORMAT) {
    throw new BundleError(
      `bundle format ${String(meta.format)} is not supported (this gateway reads format ${BUNDLE_FORMAT})`,
    );
  }
  if (!files.has('policy.wasm')) throw new BundleError('bundle has no policy.wasm');
  if (![...files.keys()].some((n) => n.startsWith(POLICY_PREFIX))) {
    throw new BundleError(`bundle has no policy documents under ${POLICY_PREFIX}`);
  }
  const revision = manifest.revision;
  if (typeof revision !== 'string' || !REVISION.test(revision)) {
    throw new BundleError(`bundle revision '${String(revision ?? '')}' is not a commit SHA or content hash`);
  }
  let dataRevision: unknown;
  try {
    dataRevision = (
      JSON.parse(files.get('data.json')?.toString('utf8') ?? '{}') as { portcullis?: { revision?: unknown } }
    ).portcullis?.revision;
  } catch {
    throw new BundleError('data.json is not valid JSON');
  }
  if (meta.revision !== revision || dataRevision !== revision) {
    throw new BundleError(
      `bundle revision mismatch: .manifest says ${revision}, its metadata ${String(meta.revision)}, data.json ${String(dataRevision)}`,
    );
  }
  return meta;
}

async function readBody(res: Awaited<ReturnType<typeof fetch>>, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) throw new Error(`bundle is ${declared} bytes, over the ${maxBytes}-byte limit`);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body ?? []) {
      size += chunk.byteLength;
      if (size > maxBytes) throw new Error(`bundle is over the ${maxBytes}-byte limit`);
      chunks.push(Buffer.from(chunk));
    }
  } catch (err) {
    throw new Error(`bundle download truncated after ${size} bytes: ${causeText(err)}`);
  }
  if (Number.isFinite(declared) && size !== declared) {
    throw new Error(`bundle download truncated: ${size} of ${declared} bytes`);
  }
  return Buffer.concat(chunks);
}

function causeText(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string; code?: string } };
  return redactCredentials([e.message, e.cause?.code ?? e.cause?.message].filter(Boolean).join(': '));
}

/** The URL without credentials: user info and the query string (a presigned URL's signature) dropped. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return redactCredentials(url.replace(/\?.*$/, ''));
  }
}

function fileName(revision: string): string {
  return revision.replace(/[^A-Za-z0-9_-]/g, '-');
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

function writeAtomic(file: string, content: string | Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}
