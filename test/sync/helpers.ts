// Real git repositories for the sync tests: a bare "remote" and an author's clone that commits and
// pushes the example policy.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { DecisionInput } from '../../src/policy/decision.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';

export const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Pat Platform',
  GIT_AUTHOR_EMAIL: 'pat@acme.example',
  GIT_COMMITTER_NAME: 'Pat Platform',
  GIT_COMMITTER_EMAIL: 'pat@acme.example',
  GIT_CONFIG_NOSYSTEM: '1',
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: GIT_ENV,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `portcullis-sync-${prefix}-`));
}

export interface PolicyRepo {
  /** Bare repository the gateway fetches from. */
  remote: string;
  /** The author's clone; edit here, then commit(). */
  work: string;
  commit(message: string, extraArgs?: string[]): string;
  push(force?: boolean): void;
  /** Edit, commit and push; returns the new commit SHA. */
  change(file: string, edit: (text: string) => string, message: string): string;
}

/** A bare remote holding the example policy (policy files under `subdir` when given) on `main`. */
export function policyRepo(subdir?: string): PolicyRepo {
  const root = tempDir('repo');
  const remote = join(root, 'remote.git');
  const work = join(root, 'work');
  execFileSync('git', ['init', '--quiet', '--bare', '-b', 'main', remote], { env: GIT_ENV });
  execFileSync('git', ['init', '--quiet', '-b', 'main', work], { env: GIT_ENV });
  const { dir } = examplePolicyCopy();
  if (subdir) execFileSync('mkdir', ['-p', join(work, subdir)]);
  execFileSync('cp', ['-r', `${dir}/.`, subdir ? join(work, subdir) : work]);
  git(work, 'remote', 'add', 'origin', remote);
  const repo: PolicyRepo = {
    remote,
    work,
    commit(message, extraArgs = []) {
      git(work, 'add', '-A');
      git(work, 'commit', '--quiet', ...extraArgs, '-m', message);
      return git(work, 'rev-parse', 'HEAD');
    },
    push(force = false) {
      git(work, 'push', '--quiet', ...(force ? ['--force'] : []), 'origin', 'main');
    },
    change(file, edit, message) {
      const path = join(work, subdir ?? '', file);
      writeFileSync(path, edit(readFileSync(path, 'utf8')));
      const sha = repo.commit(message);
      repo.push();
      return sha;
    },
  };
  repo.commit('Initial policy');
  repo.push();
  return repo;
}

/** Sets bob-dev's monthly budget (the first budget in keys/app-dev.yaml). */
export function setBobBudget(amount: number) {
  return (text: string) =>
    text.replace(/\{ amountUsd: \d+, period: monthly \}/, `{ amountUsd: ${amount}, period: monthly }`);
}

export function collectingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines, registry: new Registry() };
}

export async function waitFor(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A request with no key: every policy revision must answer it (401) without throwing. */
export const ANONYMOUS_CALL: DecisionInput = {
  surface: 'openai.chat',
  provider: 'openai',
  model: 'gpt-5-mini',
  stream: false,
  tools: [],
  sizes: { bodyBytes: 10, estimatedInputTokens: 1, maxOutputTokens: 1 },
  auth: { status: 'missing', enforced: true },
  key: null,
  usage: { budgets: [], rateLimits: [] },
  guardrails: { findings: [] },
};

/**
 * The same call past authentication. A refused caller is told only that (auth.rego), so the policy's
 * other rules, and a trap set in one of them, run only for a call like this.
 */
export const AUTHENTICATED_CALL: DecisionInput = {
  ...ANONYMOUS_CALL,
  auth: { status: 'ok', enforced: true },
};
