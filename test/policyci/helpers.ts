// A real git repository holding a copy of the example policy under policies/, with commits made by
// the tests. Commits get fixed, distinct author dates so history order is deterministic.
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';
import { EXAMPLE_POLICY_DIR } from '../fixtures/keys.ts';

const NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');
const CLI = join(REPO_ROOT, 'bin', 'portcullis.js');

export interface PolicyGitRepo {
  root: string;
  policyDir: string;
  commits: string[];
  edit(file: string, change: (text: string) => string): void;
  write(file: string, text: string): void;
  commit(message: string): string;
}

export function policyRepo(t: { after(fn: () => void): void }): PolicyGitRepo {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-policyci-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const policyDir = join(root, 'policies');
  cpSync(EXAMPLE_POLICY_DIR, policyDir, { recursive: true });
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
    }).trim();
  git('init', '-q', '-b', 'main');
  const commits: string[] = [];
  return {
    root,
    policyDir,
    commits,
    edit(file, change) {
      const path = join(policyDir, file);
      const before = readFileSync(path, 'utf8');
      const after = change(before);
      if (after === before) throw new Error(`edit of ${file} changed nothing`);
      writeFileSync(path, after);
    },
    write(file, text) {
      mkdirSync(dirname(join(policyDir, file)), { recursive: true });
      writeFileSync(join(policyDir, file), text);
    },
    commit(message) {
      git('add', '-A');
      const date = `2026-01-${String(commits.length + 1).padStart(2, '0')}T10:00:00Z`;
      execFileSync('git', ['-c', 'commit.gpgsign=false', 'commit', '-q', '-m', message], {
        cwd: root,
        env: {
          ...process.env,
          GIT_CONFIG_GLOBAL: '/dev/null',
          GIT_CONFIG_NOSYSTEM: '1',
          GIT_AUTHOR_NAME: 'Pat Platform',
          GIT_AUTHOR_EMAIL: 'pat@acme.example',
          GIT_COMMITTER_NAME: 'Pat Platform',
          GIT_COMMITTER_EMAIL: 'pat@acme.example',
          GIT_AUTHOR_DATE: date,
          GIT_COMMITTER_DATE: date,
        },
      });
      const sha = git('rev-parse', 'HEAD');
      commits.push(sha);
      return sha;
    },
  };
}

/** Runs the real CLI in a child process (the test runner reports over this process's stdout). */
export function runCli(
  argv: string[],
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      NODE,
      [CLI, ...argv],
      { cwd: cwd ?? REPO_ROOT, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

/** A guardrail chain document (diff works on loaded YAML, so no schema is needed for it). */
export const CHAIN_YAML = `apiVersion: portcullis.dev/v1
kind: GuardrailChain
metadata:
  name: default
spec:
  steps:
    - { detector: secrets, stage: request, action: block }
    - { detector: pii, stage: both, action: redact, types: [email, phone] }
`;

/** The example policy, then four commits: widen a scope, lower a budget, weaken a chain, disable a key. */
export function fourChanges(t: { after(fn: () => void): void }): PolicyGitRepo {
  const repo = policyRepo(t);
  repo.write('guardrails/default.yaml', CHAIN_YAML);
  repo.commit('Example policy');
  repo.edit('scopes/read-only.yaml', (s) =>
    s.replace('"*/read_*"]', '"*/read_*", "*/write_*"]').replace('deny: [Bash, ', 'deny: ['),
  );
  repo.edit('keys/app-dev.yaml', (s) =>
    s.replace('models: [claude-haiku-4-5*,', 'models: [gpt-5, claude-haiku-4-5*,'),
  );
  repo.commit('Let bob use gpt-5 and write tools');
  repo.edit('teams/acme.yaml', (s) => s.replace('amountUsd: 5000', 'amountUsd: 4000'));
  repo.commit('Trim the platform budget');
  repo.write(
    'guardrails/default.yaml',
    CHAIN_YAML.replace('action: block', 'action: log').replace(/ {4}- \{ detector: pii.*\n/, ''),
  );
  repo.commit('Quieter guardrails');
  repo.edit('keys/app-dev.yaml', (s) =>
    s.replace('  providers: [anthropic, google]', '  providers: [anthropic, google]\n  disabled: true'),
  );
  repo.commit('Carol is on leave');
  return repo;
}
