// Names the policy revision: the git commit when the policy directory is committed and clean,
// else a content hash of its files (prefixed `sha256:`), so every snapshot is traceable.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gitClient } from '../toolchain/git.ts';
import { readRegoSources } from './compile.ts';
import { listPolicyFiles } from './load.ts';
import { contentHash } from './resolve.ts';
import type { PolicySource } from './snapshot.ts';

export function policyContentHash(dir: string): string {
  const files = [
    ...listPolicyFiles(dir).map((p) => ({ path: relative(dir, p), content: readFileSync(p) })),
    ...readRegoSources(dir),
  ];
  return contentHash(files);
}

export async function describeRevision(dir: string): Promise<PolicySource> {
  const fallback = (): PolicySource => ({ revision: `sha256:${policyContentHash(dir)}`, dir });
  try {
    const git = gitClient(dir);
    if (!(await git.checkIsRepo())) return fallback();
    const status = await git.status(['--porcelain', '--', '.']);
    if (!status.isClean()) return fallback();
    const log = await git.log({ maxCount: 1, file: join(dir, '.') });
    const head = (await git.revparse(['HEAD'])).trim();
    const last = log.latest;
    return {
      revision: head,
      dir,
      commit: last
        ? { subject: last.message, author: `${last.author_name} <${last.author_email}>`, time: last.date }
        : undefined,
    };
  } catch {
    return fallback();
  }
}
