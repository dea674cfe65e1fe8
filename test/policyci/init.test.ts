import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { checkPolicy } from '../../src/policy/build-snapshot.ts';
import { listPolicyFiles } from '../../src/policy/load.ts';
import { scaffoldPolicyRepo } from '../../src/policyci/scaffold.ts';
import { ACTIONLINT, findTool, REPO_ROOT } from '../../src/toolchain/tools.ts';
import { EXAMPLE_POLICY_DIR } from '../fixtures/keys.ts';
import { runCli } from './helpers.ts';

function target(t: { after(fn: () => void): void }): string {
  const parent = mkdtempSync(join(tmpdir(), 'portcullis-init-'));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  return join(parent, 'acme-policy');
}

const hashes = (text: string) => [...text.matchAll(/keyHash:\s*(sha256:[0-9a-f]{64})/g)].map((m) => m[1]);

const actionlint = findTool(ACTIONLINT);
const noActionlint = actionlint
  ? false
  : 'actionlint is not installed: run `npm run setup` or set ACTIONLINT_PATH to lint workflow files';

describe('portcullis init', () => {
  test('scaffolds a policy repository that validates, with fresh key hashes and schema hints', async (t) => {
    const dir = target(t);
    const run = await runCli(['init', dir, '--owners', '@acme/platform']);
    assert.equal(run.code, 0, run.stderr);

    const { documents, problems } = checkPolicy(dir);
    assert.deepEqual(problems, []);
    const exampleKinds = listPolicyFiles(EXAMPLE_POLICY_DIR).length;
    assert.equal(listPolicyFiles(dir).length, exampleKinds);
    assert.ok(documents.some((d) => d.value.kind === 'VirtualKey'));

    // No key anyone holds: every hash is new.
    const exampleHashes = new Set(
      listPolicyFiles(EXAMPLE_POLICY_DIR).flatMap((f) => hashes(readFileSync(f, 'utf8'))),
    );
    const newHashes = listPolicyFiles(dir).flatMap((f) => hashes(readFileSync(f, 'utf8')));
    assert.equal(newHashes.length, exampleHashes.size);
    for (const h of newHashes) assert.ok(!exampleHashes.has(h), `${h} copied from the example`);
    assert.equal(new Set(newHashes).size, newHashes.length);

    // Editors find the schemas next to the YAML.
    assert.match(
      readFileSync(join(dir, 'gateway.yaml'), 'utf8'),
      /^# yaml-language-server: \$schema=schemas\/gateway\.schema\.json$/m,
    );
    assert.match(
      readFileSync(join(dir, 'keys', 'bots.yaml'), 'utf8'),
      /^# yaml-language-server: \$schema=\.\.\/schemas\/virtualkey\.schema\.json$/m,
    );
    for (const f of readdirSync(join(REPO_ROOT, 'schemas'))) {
      assert.deepEqual(
        readFileSync(join(dir, 'schemas', f), 'utf8'),
        readFileSync(join(REPO_ROOT, 'schemas', f), 'utf8'),
      );
    }
    assert.match(readFileSync(join(dir, '.github', 'CODEOWNERS'), 'utf8'), /^\* @acme\/platform$/m);
    assert.match(
      readFileSync(join(dir, '.github', 'workflows', 'policy.yml'), 'utf8'),
      /npm install -g .*"\$PORTCULLIS_CLI"\n\s+portcullis setup --lint/,
    );
    assert.match(readFileSync(join(dir, 'README.md'), 'utf8'), /# Portcullis policy/);
    assert.ok(readdirSync(join(dir, 'rego')).includes('decision.rego'));

    // The full check a policy repository's CI runs first: schemas, cross-references, Rego to Wasm.
    const validate = await runCli(['policy', 'validate', dir]);
    assert.equal(validate.code, 0, validate.stderr);
    // And its lint, with the Regal settings the example carries.
    const lint = await runCli(['policy', 'lint', dir]);
    assert.equal(lint.code, 0, lint.stdout + lint.stderr);
  });

  test('copies the example as committed: a key created and not committed stays out', (t) => {
    const examples = join(target(t), '..', 'example-checkout');
    mkdirSync(examples, { recursive: true });
    cpSync(EXAMPLE_POLICY_DIR, join(examples, 'policies'), { recursive: true });
    const git = (...a: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...a], { cwd: examples });
    git('init', '-q');
    git('add', '-A');
    git('commit', '-qm', 'example');
    writeFileSync(
      join(examples, 'policies', 'keys', 'local-only.yaml'),
      readFileSync(join(EXAMPLE_POLICY_DIR, 'keys', 'retired.yaml'), 'utf8').replace(
        /name: dave-former/,
        'name: local-only',
      ),
    );
    const gateway = join(examples, 'policies', 'gateway.yaml');
    writeFileSync(gateway, `${readFileSync(gateway, 'utf8')}# uncommitted edit\n`);
    const dir = target(t);
    scaffoldPolicyRepo(dir, { examples: join(examples, 'policies'), cliPackage: 'portcullis@0.0.0' });
    assert.ok(!existsSync(join(dir, 'keys', 'local-only.yaml')));
    assert.doesNotMatch(readFileSync(join(dir, 'gateway.yaml'), 'utf8'), /uncommitted edit/);
    assert.equal(listPolicyFiles(dir).length, listPolicyFiles(EXAMPLE_POLICY_DIR).length);
  });

  test('refuses a non-empty directory and leaves it alone', async (t) => {
    const dir = target(t);
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine\n');
    const run = await runCli(['init', dir]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /is not empty/);
    assert.deepEqual(readdirSync(dir), ['notes.txt']);
  });

  test('the generated workflow passes actionlint', { skip: noActionlint }, async (t) => {
    const dir = target(t);
    assert.equal((await runCli(['init', dir])).code, 0);
    const r = spawnSync(
      actionlint as string,
      ['-no-color', join(dir, '.github', 'workflows', 'policy.yml')],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test("this repository's workflows pass actionlint", { skip: noActionlint }, () => {
    const r = spawnSync(actionlint as string, ['-no-color'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test('actionlint does catch a broken workflow (the lint tests can fail)', { skip: noActionlint }, (t) => {
    const dir = target(t);
    mkdirSync(dir, { recursive: true });
    const bad = join(dir, 'bad.yml');
    writeFileSync(
      bad,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not JavaScript
      'on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n',
    );
    const r = spawnSync(actionlint as string, ['-no-color', bad], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
  });
});
