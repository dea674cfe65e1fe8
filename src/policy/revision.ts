// Names the policy revision: the git commit when every policy file is committed and unchanged,
// else a content hash of its files (prefixed `sha256:`), so every snapshot is traceable. A directory
// that merely sits inside some git work tree (ignored or untracked there, like `npm start`'s copy in
// .data/) is named by content: the enclosing HEAD says nothing about it and would not change with it.
import { readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
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
    // Paths relative to `dir`, as git prints them from there. Only the names are needed here: the
    // YAML (10,000 keys can be megabytes) is read only when the content hash names the revision.
    const tracked = new Set((await git.raw(['ls-files', '-z', '--', '.'])).split('\0'));
    const paths = [
      ...listPolicyFiles(dir).map((p) => relative(dir, p)),
      ...readRegoSources(dir).map((s) => s.path),
    ];
    if (!paths.every((p) => tracked.has(p.split(sep).join('/')))) return fallback();
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
