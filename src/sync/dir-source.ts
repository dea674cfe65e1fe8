// A policy directory on disk as a source: the revision is whatever describeRevision says (the commit
// when the directory is a clean git checkout, else a content hash), and chokidar reports edits,
// debounced so an editor's burst of writes gives one reload.
import { existsSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { watch } from 'chokidar';
import { describeRevision } from '../policy/revision.ts';
import type { PolicySource } from '../policy/snapshot.ts';
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
    return async () => {
      clearTimeout(timer);
      await watcher.close();
    };
  }
}
