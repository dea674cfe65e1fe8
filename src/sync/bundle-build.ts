// Builds the policy bundle a production gateway follows: OPA's Wasm bundle (policy.wasm, the Rego, the
// policy data as data.json, the revision in .manifest) plus the policy's YAML documents under
// `portcullis/policy/`, so a gateway can rebuild its typed snapshot without git or the OPA CLI.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { checkPolicy } from '../policy/build-snapshot.ts';
import { compileRego, ENTRYPOINT, readRegoSources } from '../policy/compile.ts';
import { defaultCredentialDetector } from '../policy/credentials.ts';
import { listPolicyFiles } from '../policy/load.ts';
import { PolicyInvalidError } from '../policy/problems.ts';
import { dataDocument, resolvePolicy } from '../policy/resolve.ts';
import { describeRevision } from '../policy/revision.ts';
import {
  type BundleFiles,
  type BundleManifest,
  MANIFEST_FILE,
  readBundle,
  type SigningOptions,
  signBundle,
  writeBundle,
} from './bundle-format.ts';

/** Where the policy documents live inside a bundle. */
export const POLICY_PREFIX = 'portcullis/policy/';
/** Bumped when the layout above changes incompatibly. */
export const BUNDLE_FORMAT = 1;

export interface PortcullisBundleMetadata {
  format: number;
  revision: string;
  commit?: { subject: string; author: string; time: string };
  entrypoint: string;
}

export interface BuiltBundle {
  archive: Buffer;
  revision: string;
  signed: boolean;
}

/** Validates `dir`, compiles its Rego with the pinned OPA and packs (and, given a key, signs) the bundle. */
export async function buildPolicyBundle(dir: string, signing?: SigningOptions): Promise<BuiltBundle> {
  const { documents, problems } = checkPolicy(dir, defaultCredentialDetector);
  if (problems.length > 0) throw new PolicyInvalidError(problems);
  const source = await describeRevision(dir);
  const data = dataDocument(resolvePolicy(documents), source.revision);
  const out = join(tmpdir(), `portcullis-bundle-${process.pid}-${Date.now()}.tar.gz`);
  let files: BundleFiles;
  try {
    await compileRego(readRegoSources(dir), { revision: source.revision, bundleOut: out, data });
    files = readBundle(readFileSync(out));
  } finally {
    rmSync(out, { force: true });
  }
  for (const path of listPolicyFiles(dir)) {
    files.set(`${POLICY_PREFIX}${relative(dir, path).split(sep).join('/')}`, readFileSync(path));
  }
  const manifest = JSON.parse(files.get(MANIFEST_FILE)?.toString('utf8') ?? '{}') as BundleManifest;
  const metadata: PortcullisBundleMetadata = {
    format: BUNDLE_FORMAT,
    revision: source.revision,
    commit: source.commit,
    entrypoint: ENTRYPOINT,
  };
  manifest.metadata = { ...manifest.metadata, portcullis: metadata };
  files.set(MANIFEST_FILE, Buffer.from(JSON.stringify(manifest)));
  if (signing) files = await signBundle(files, signing);
  return { archive: await writeBundle(files), revision: source.revision, signed: signing !== undefined };
}

/** Signs an existing bundle archive (one built elsewhere, or re-signed with a new key). */
export async function signBundleArchive(archive: Buffer, signing: SigningOptions): Promise<Buffer> {
  const files = readBundle(archive);
  files.delete('.signatures.json');
  return writeBundle(await signBundle(files, signing));
}
