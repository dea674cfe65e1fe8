// A policy directory on disk as a source: the revision is whatever describeRevision says (the commit
// when the directory is a clean git checkout, else a content hash), and chokidar reports edits,
// debounced so an editor's burst of writes gives one reload.
import { existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import { describeRevision } from '../policy/revision.ts';
import type { PolicySource } from '../policy/snapshot.ts';
import { gitClient } from '../toolchain/git.ts';
import type { Checkout, RevisionSource } from './types.ts';

export interface DirSourceOptions {
  dir: string;
  debounceMs?: number;
}

export class DirSource implements RevisionSource {
  readonly description: string;
  #dir: string;
  #debounceMs: number;
  #described: PolicySource | undefined;

  constructor(opts: DirSourceOptions) {
    this.#dir = resolve(opts.dir);
    this.#debounceMs = opts.debounceMs ?? 200;
    this.description = this.#dir;
  }

  async latest(): Promise<string> {
    if (!existsSync(this.#dir)) throw new Error(`policy directory ${this.#dir} does not exist`);
    this.#described = await describeRevision(this.#dir);
    return this.#described.revision;
  }

  async checkout(revision: string): Promise<Checkout> {
    const described =
      this.#described?.revision === revision ? this.#described : await describeRevision(this.#dir);
    return { dir: this.#dir, source: described };
  }

  async hasLocally(revision: string): Promise<boolean> {
    return existsSync(this.#dir) && (await this.latest()) === revision;
  }

  async release(): Promise<void> {}

  async watch(onChange: (reason: string) => void): Promise<() => Promise<void>> {
    let timer: NodeJS.Timeout | undefined;
    let changed = '';
    const watcher = watch(this.#dir, {
      ignoreInitial: true,
      ignored: (path: string) => path.split(sep).includes('.git') || path.split(sep).includes('node_modules'),
    });
    watcher.on('all', (_event, path) => {
      changed = path;
      clearTimeout(timer);
      timer = setTimeout(() => onChange(`file change: ${changed}`), this.#debounceMs);
    });
    await new Promise<void>((ready, fail) => {
      watcher.once('ready', () => ready());
      watcher.once('error', fail);
    });
    // A commit changes no policy file but renames the revision (content hash → commit SHA): follow
    // the branch refs of the repository holding the directory, so that audit records name the commit.
    const refs = await gitRefsWatcher(this.#dir, (path) => {
      changed = `git ${path}`;
      clearTimeout(timer);
      timer = setTimeout(() => onChange(`git commit: ${changed}`), this.#debounceMs);
    });
    return async () => {
      clearTimeout(timer);
      await watcher.close();
      await refs?.close();
    };
  }
}

/** Watches HEAD and the branch refs of the git repository holding `dir`; undefined outside git. */
async function gitRefsWatcher(dir: string, onChange: (path: string) => void): Promise<FSWatcher | undefined> {
  let gitDir: string;
  try {
    gitDir = (await gitClient(dir).revparse(['--absolute-git-dir'])).trim();
  } catch {
    return undefined;
  }
  const watcher = watch([join(gitDir, 'HEAD'), join(gitDir, 'refs', 'heads'), join(gitDir, 'packed-refs')], {
    ignoreInitial: true,
  });
  watcher.on('all', (_event, path) => {
    if (!path.endsWith('.lock')) onChange(path);
  });
  await new Promise<void>((ready) => watcher.once('ready', () => ready()));
  return watcher;
}
