// A git repository as a policy source. A bare clone in `<dataDir>/policy-repo` holds the objects;
// every fetch force-updates one private ref from the remote (so force-pushes are followed), and each
// candidate revision gets its own detached worktree, so a checkout never disturbs the tree a running
// snapshot was built from.

import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type SimpleGit, simpleGit } from 'simple-git';
import { gitEnvironment } from '../toolchain/git.ts';
import { redactCredentials } from './redact.ts';
import type { Checkout, RevisionSource } from './types.ts';

const TARGET_REF = 'refs/portcullis/target';

export interface GitSourceOptions {
  url: string;
  /** Branch or tag; default the remote's HEAD. */
  ref?: string;
  /** Policy directory inside the repository. */
  subdir?: string;
  dataDir: string;
  /** Per git command, default 60 s. */
  timeoutMs?: number;
}

export class GitSource implements RevisionSource {
  readonly description: string;
  #opts: GitSourceOptions;
  #repoDir: string;
  #worktrees: string;
  #git: SimpleGit | undefined;

  constructor(opts: GitSourceOptions) {
    this.#opts = opts;
    this.#repoDir = join(opts.dataDir, 'policy-repo');
    this.#worktrees = join(opts.dataDir, 'worktrees');
    const parts = [redactCredentials(opts.url)];
    if (opts.ref) parts.push(`ref ${opts.ref}`);
    if (opts.subdir) parts.push(`dir ${opts.subdir}`);
    this.description = parts.join(' ');
  }

  #client(): SimpleGit {
    if (this.#git) return this.#git;
    // The environment is the operator's (deploy keys via GIT_SSH_COMMAND, proxies, CA bundles,
    // config paths), not input from a request, so it passes through; arguments stay checked.
    const env = gitEnvironment();
    this.#git = simpleGit({
      baseDir: this.#repoDir,
      timeout: { block: this.#opts.timeoutMs ?? 60_000 },
      allowEnvironment: Object.keys(env),
      // Any non-zero exit is a failure; by default simple-git lets a silent one (an unsigned commit
      // under verify-commit) pass.
      errors: (error, result) => {
        if (error || result.exitCode === 0) return error;
        return new Error(
          Buffer.concat(result.stdErr).toString('utf8') || `git exited with ${result.exitCode}`,
        );
      },
      unsafe: {
        allowUnsafeSshCommand: true,
        allowUnsafeAskPass: true,
        allowUnsafeGitProxy: true,
        allowUnsafeConfigPaths: true,
        allowUnsafeConfigEnvCount: true,
      },
    }).env(env);
    return this.#git;
  }

  /** Creates the bare clone on first use (no network needed) and points `origin` at the URL. */
  async #ensureRepo(): Promise<SimpleGit> {
    if (!existsSync(join(this.#repoDir, 'HEAD'))) {
      mkdirSync(this.#repoDir, { recursive: true });
      await this.#client().raw(['init', '--bare', '--quiet']);
    }
    const git = this.#client();
    const remotes = await git.getRemotes();
    if (remotes.some((r) => r.name === 'origin'))
      await git.raw(['remote', 'set-url', 'origin', this.#opts.url]);
    else await git.raw(['remote', 'add', 'origin', this.#opts.url]);
    return git;
  }

  async latest(): Promise<string> {
    const git = await this.#ensureRepo();
    const ref = this.#opts.ref ?? 'HEAD';
    try {
      await git.raw(['fetch', '--quiet', '--force', '--no-tags', 'origin', `+${ref}:${TARGET_REF}`]);
    } catch (err) {
      throw new Error(`git fetch from ${this.description} failed: ${gitMessage(err)}`);
    }
    return (await git.raw(['rev-parse', '--verify', `${TARGET_REF}^{commit}`])).trim();
  }

  async hasLocally(revision: string): Promise<boolean> {
    if (!existsSync(join(this.#repoDir, 'HEAD'))) return false;
    try {
      await this.#client().raw(['cat-file', '-e', `${revision}^{commit}`]);
      return true;
    } catch {
      return false;
    }
  }

  async checkout(revision: string): Promise<Checkout> {
    const git = await this.#ensureRepo();
    const tree = join(this.#worktrees, revision);
    if (existsSync(tree)) await this.#remove(tree);
    mkdirSync(this.#worktrees, { recursive: true });
    await git.raw(['worktree', 'add', '--quiet', '--force', '--detach', tree, revision]);
    const format = ['%s', '%an <%ae>', '%aI'].join('%x00');
    const [subject, author, time] = (await git.raw(['log', '-1', `--format=${format}`, revision]))
      .replace(/\n$/, '')
      .split('\0');
    const dir = this.#opts.subdir ? join(tree, this.#opts.subdir) : tree;
    return { dir, source: { revision, dir, commit: { subject, author, time } } };
  }

  async verifySignature(revision: string, allowedSignersFile: string): Promise<string | undefined> {
    try {
      await this.#client().raw([
        '-c',
        `gpg.ssh.allowedSignersFile=${allowedSignersFile}`,
        'verify-commit',
        revision,
      ]);
      return undefined;
    } catch (err) {
      const detail = gitMessage(err).split('\n')[0] || 'no signature';
      return `commit ${revision} is not signed by an allowed signer (${detail})`;
    }
  }

  async release(keep: string | undefined): Promise<void> {
    if (!existsSync(this.#worktrees)) return;
    for (const name of readdirSync(this.#worktrees)) {
      if (name !== keep) await this.#remove(join(this.#worktrees, name));
    }
    await this.#client()
      .raw(['worktree', 'prune'])
      .catch(() => undefined);
  }

  async #remove(tree: string): Promise<void> {
    await this.#client()
      .raw(['worktree', 'remove', '--force', tree])
      .catch(() => undefined);
    rmSync(tree, { recursive: true, force: true });
  }
}

function gitMessage(err: unknown): string {
  return redactCredentials(err instanceof Error ? err.message : String(err)).trim();
}
