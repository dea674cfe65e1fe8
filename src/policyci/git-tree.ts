// A policy directory as it was at a git revision: extracted with `git archive` into a temp dir that
// the loader and the snapshot builder read like any other directory.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { SimpleGit } from 'simple-git';
import * as tar from 'tar';
import { gitClient } from '../toolchain/git.ts';

export interface PolicyRepo {
  git: SimpleGit;
  /** The repository's top-level directory. */
  root: string;
  /** The policy directory relative to `root`, with `/` separators; '' for the root itself. */
  rel: string;
}

/** The git repository holding `policyDir` (which need not exist in the working tree). */
export async function openPolicyRepo(policyDir: string, cwd: string = process.cwd()): Promise<PolicyRepo> {
  const abs = resolve(cwd, policyDir);
  const base = existsSync(abs) && statSync(abs).isDirectory() ? abs : cwd;
  const root = (await gitClient(base).revparse(['--show-toplevel'])).trim();
  const rel = relative(root, abs).split(sep).join('/');
  if (rel.startsWith('..')) throw new Error(`${abs} is outside the git repository at ${root}`);
  return { git: gitClient(root), root, rel };
}

/** The full commit SHA a revision names; throws a readable error for an unknown revision. */
export async function resolveRevision(repo: PolicyRepo, rev: string): Promise<string> {
  const sha = await repo.git.revparse(['--verify', '--quiet', `${rev}^{commit}`]).catch(() => '');
  if (!/^[0-9a-f]{40,64}$/.test(sha.trim())) throw new Error(`unknown git revision '${rev}' in ${repo.root}`);
  return sha.trim();
}

/** Extracts the policy directory at `sha` into `into`; false when the revision has no such directory. */
export async function extractPolicyDir(repo: PolicyRepo, sha: string, into: string): Promise<boolean> {
  const listed = await repo.git.raw(['ls-tree', '--name-only', sha, '--', repo.rel || '.']);
  if (listed.trim() === '') return false;
  mkdirSync(into, { recursive: true });
  const args = ['archive', '--format=tar', sha];
  if (repo.rel) args.push('--', repo.rel);
  const child = spawn('git', args, { cwd: repo.root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-2000);
  });
  const exited = new Promise<number>((done) => child.on('close', (code) => done(code ?? 1)));
  const strip = repo.rel ? repo.rel.split('/').length : 0;
  await pipeline(child.stdout, tar.x({ cwd: into, strip }));
  const code = await exited;
  if (code !== 0) throw new Error(`git archive ${sha} failed: ${stderr.trim()}`);
  return true;
}

/** Extracted trees by commit, removed together by `close()`. */
export class PolicyTrees {
  readonly repo: PolicyRepo;
  private readonly tmp: string;
  private readonly trees = new Map<string, Promise<string | null>>();

  constructor(repo: PolicyRepo) {
    this.repo = repo;
    this.tmp = mkdtempSync(join(tmpdir(), 'portcullis-policy-'));
  }

  /** The directory holding the policy at `sha`, or null when that commit has none. */
  dir(sha: string): Promise<string | null> {
    let tree = this.trees.get(sha);
    if (!tree) {
      const into = join(this.tmp, sha);
      tree = extractPolicyDir(this.repo, sha, into).then((ok) => (ok ? into : null));
      this.trees.set(sha, tree);
    }
    return tree;
  }

  /** An empty directory, standing for a revision without the policy directory. */
  empty(): string {
    const d = join(this.tmp, 'empty');
    mkdirSync(d, { recursive: true });
    return d;
  }

  close(): void {
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
