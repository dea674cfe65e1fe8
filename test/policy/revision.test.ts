import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { describeRevision } from '../../src/policy/revision.ts';
import { policyCopy } from './helpers.ts';

const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Pat',
  GIT_AUTHOR_EMAIL: 'pat@acme.example',
  GIT_COMMITTER_NAME: 'Pat',
  GIT_COMMITTER_EMAIL: 'pat@acme.example',
};

/** Runs git in `dir` (a fresh repository on `main`) and returns its trimmed output. */
function gitRepo(dir: string): (...args: string[]) => string {
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: dir, env: gitEnv, encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'main');
  return git;
}

test('the revision is the commit SHA of a clean checkout, even with EDITOR set (as under npm)', async () => {
  const dir = policyCopy();
  const git = gitRepo(dir);
  git('add', '.');
  git('commit', '-q', '-m', 'Raise the platform budget');
  const head = git('rev-parse', 'HEAD');
  const saved = process.env.EDITOR;
  process.env.EDITOR = 'vi';
  try {
    const source = await describeRevision(dir);
    assert.equal(source.revision, head);
    assert.equal(source.commit?.subject, 'Raise the platform budget');
    writeFileSync(join(dir, 'gateway.yaml'), '# uncommitted edit\n', { flag: 'a' });
    assert.match((await describeRevision(dir)).revision, /^sha256:/, 'a dirty tree is named by content');
  } finally {
    if (saved === undefined) delete process.env.EDITOR;
    else process.env.EDITOR = saved;
  }
});

test('a policy directory git ignores inside a work tree is named by its content, not that tree’s HEAD', async () => {
  const repo = policyCopy();
  const git = gitRepo(repo);
  writeFileSync(join(repo, '.gitignore'), 'scratch.txt\n');
  git('add', '.');
  git('commit', '-q', '-m', 'The policy');
  writeFileSync(join(repo, 'scratch.txt'), 'notes');
  assert.equal(
    (await describeRevision(repo)).revision,
    git('rev-parse', 'HEAD'),
    'ignored non-policy files do not matter',
  );

  const outer = policyCopy();
  const outerGit = gitRepo(outer);
  writeFileSync(join(outer, '.gitignore'), 'data/\n');
  outerGit('add', '.gitignore');
  outerGit('commit', '-q', '-m', 'Ignore the data directory');
  const dir = join(outer, 'data', 'policy');
  cpSync(repo, dir, { recursive: true, filter: (src) => !src.includes('.git') });
  const before = (await describeRevision(dir)).revision;
  assert.match(before, /^sha256:/);
  writeFileSync(join(dir, 'gateway.yaml'), '# an edit\n', { flag: 'a' });
  const after = (await describeRevision(dir)).revision;
  assert.match(after, /^sha256:/);
  assert.notEqual(after, before, 'an edit is a new revision');
});
