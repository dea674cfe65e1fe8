// A signed policy bundle built once from a real git repository with the pinned OPA, variants of it
// (new revision, other key, tampered files) made by editing its files and re-signing, and a bundle
// server on loopback that answers with ETags and can be told to misbehave.
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildPolicyBundle, POLICY_PREFIX } from '../../src/sync/bundle-build.ts';
import {
  type BundleFiles,
  readBundle,
  SIGNATURES_FILE,
  signBundle,
  writeBundle,
} from '../../src/sync/bundle-format.ts';
import { policyRepo, setBobBudget } from './helpers.ts';

export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

export function rsaKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export interface BaseBundle {
  files: BundleFiles;
  revision: string;
  key: KeyPair;
  archive: Buffer;
}

/** Builds and signs the example policy of a fresh git repository (needs the OPA CLI). */
export async function baseBundle(): Promise<BaseBundle> {
  const repo = policyRepo();
  const key = rsaKeyPair();
  const built = await buildPolicyBundle(repo.work, { privateKey: key.privateKey, issuedAt: 1_800_000_000 });
  return { files: readBundle(built.archive), revision: built.revision, key, archive: built.archive };
}

/** The same policy under another revision, bob's monthly budget set to `budget`, signed at `issuedAt`. */
export async function variant(
  base: BaseBundle,
  opts: { revision: string; budget?: number; issuedAt: number; signWith?: string; manifestRevision?: string },
): Promise<Buffer> {
  const files = new Map(base.files);
  files.delete(SIGNATURES_FILE);
  const swap = (name: string, edit: (text: string) => string) =>
    files.set(name, Buffer.from(edit(files.get(name)!.toString('utf8'))));
  swap('.manifest', (t) => {
    const m = JSON.parse(t);
    m.revision = opts.manifestRevision ?? opts.revision;
    m.metadata.portcullis.revision = opts.revision;
    return JSON.stringify(m);
  });
  swap('data.json', (t) => t.replaceAll(base.revision, opts.revision));
  if (opts.budget !== undefined) swap(`${POLICY_PREFIX}keys/app-dev.yaml`, setBobBudget(opts.budget));
  return writeBundle(
    await signBundle(files, { privateKey: opts.signWith ?? base.key.privateKey, issuedAt: opts.issuedAt }),
  );
}

export type Misbehaviour = 'none' | 'cut-connection' | 'short-archive';

/** Serves one bundle at /bundle.tar.gz with a strong ETag; counts requests and conditional hits. */
export class BundleServer {
  archive: Buffer = Buffer.alloc(0);
  misbehave: Misbehaviour = 'none';
  requests = 0;
  notModified = 0;
  #server: Server;
  #etag = 0;

  constructor() {
    this.#server = createServer((req, res) => {
      this.requests++;
      const etag = `"v${this.#etag}"`;
      if (req.headers['if-none-match'] === etag) {
        this.notModified++;
        res.writeHead(304, { etag }).end();
        return;
      }
      if (this.misbehave === 'cut-connection') {
        res.writeHead(200, { etag, 'content-length': this.archive.length });
        res.write(this.archive.subarray(0, this.archive.length >> 1));
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      const body =
        this.misbehave === 'short-archive'
          ? this.archive.subarray(0, this.archive.length - 200)
          : this.archive;
      res
        .writeHead(200, { etag, 'content-type': 'application/gzip', 'content-length': body.length })
        .end(body);
    });
  }

  publish(archive: Buffer, misbehave: Misbehaviour = 'none'): void {
    this.archive = archive;
    this.misbehave = misbehave;
    this.#etag++;
  }

  async listen(): Promise<string> {
    await new Promise<void>((done) => this.#server.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/bundle.tar.gz`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((done) => this.#server.close(() => done()));
  }
}
