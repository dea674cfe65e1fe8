// The two sides of a comparison: two directories as given, or two git revisions of the repository
// holding the policy directory, each extracted to a temp dir.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { openPolicyRepo, PolicyTrees, resolveRevision } from './git-tree.ts';

export interface Side {
  /** Directory holding the policy as of this side. */
  dir: string;
  /** What the user named (revision or directory). */
  label: string;
  /** Full commit SHA when the side is a git revision. */
  commit?: string;
}

export interface Sides {
  base: Side;
  head: Side;
  close(): void;
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

export async function openSides(base: string, head: string, policyDir: string): Promise<Sides> {
  if (isDir(base) && isDir(head)) {
    return {
      base: { dir: resolve(base), label: base },
      head: { dir: resolve(head), label: head },
      close() {},
    };
  }
  const repo = await openPolicyRepo(policyDir);
  const trees = new PolicyTrees(repo);
  try {
    const side = async (rev: string): Promise<Side> => {
      const commit = await resolveRevision(repo, rev);
      // A revision before the policy directory existed compares as an empty policy.
      return { dir: (await trees.dir(commit)) ?? trees.empty(), label: rev, commit };
    };
    const b = await side(base);
    const h = await side(head);
    return { base: b, head: h, close: () => trees.close() };
  } catch (err) {
    trees.close();
    throw err;
  }
}
