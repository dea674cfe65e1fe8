import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildSnapshot } from '../../src/policy/build-snapshot.ts';
import { findTool, REGAL, REPO_ROOT } from '../../src/toolchain/tools.ts';
import { edit, policyCopy } from './helpers.ts';

const run = promisify(execFile);
const cli = (args: string[]) =>
  run(process.execPath, [join(REPO_ROOT, 'bin', 'portcullis.js'), ...args]).then(
    (r) => ({ code: 0, ...r }),
    (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }),
  );

describe('portcullis CLI', () => {
  test('keys create prints a key once and writes only its hash; the key authenticates', async () => {
    const dir = policyCopy();
    const r = await cli([
      'keys',
      'create',
      '--name',
      'frank-dev',
      '--owner',
      'frank@acme.example',
      '--team',
      'app-dev',
      '--models',
      'claude-haiku-4-5*,gpt-5-mini',
      '--dir',
      dir,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const key = r.stdout.trim();
    assert.match(key, /^pcl_[A-Za-z0-9_-]{43}$/);
    const yaml = readFileSync(join(dir, 'keys', 'frank-dev.yaml'), 'utf8');
    assert.ok(!yaml.includes(key), 'the key itself is never written');
    const snapshot = await buildSnapshot({ dir });
    const found = snapshot.keysByHash.get(createHash('sha256').update(key).digest('hex'));
    assert.equal(found?.id, 'frank-dev');
    assert.equal(found?.team, 'app-dev');
  });

  test('keys create refuses a key that would make the policy invalid, and leaves no file', async () => {
    const dir = policyCopy();
    const r = await cli([
      'keys',
      'create',
      '--name',
      'x',
      '--owner',
      'x',
      '--team',
      'ghost',
      '--models',
      'gpt-5-mini',
      '--dir',
      dir,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /keys\/x\.yaml:\d+:\d+: spec\.team: refers to Team 'ghost'/);
    assert.equal(r.stdout, '', 'no key printed for a refused key');
    assert.throws(() => readFileSync(join(dir, 'keys', 'x.yaml')));
  });

  test('policy validate exits non-zero with located problems', async () => {
    const dir = policyCopy();
    edit(dir, 'keys/bots.yaml', (t) => t.replace('team: platform', 'team: nowhere'));
    const r = await cli(['policy', 'validate', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /keys\/bots\.yaml:\d+:\d+: spec\.team: refers to Team 'nowhere'/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  test('policy test fails when a Rego test fails', async () => {
    const dir = policyCopy();
    writeFileSync(
      join(dir, 'rego', 'wrong_test.rego'),
      'package portcullis.gateway_test\n\ntest_wrong if {\n\t1 == 2\n}\n',
    );
    const r = await cli(['policy', 'test', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /test_wrong/);
  });

  test('policy eval prints the decision and the revision', async () => {
    const dir = policyCopy();
    const input = {
      surface: 'openai.chat',
      provider: 'openai',
      model: 'gpt-5',
      pricedModel: 'gpt-5',
      stream: false,
      tools: [],
      sizes: { bodyBytes: 10, estimatedInputTokens: 3, maxOutputTokens: 10 },
      auth: { status: 'missing', enforced: true },
      key: null,
      usage: { budgets: [], rateLimits: [] },
      guardrails: { findings: [] },
    };
    const file = join(dir, 'input.json');
    writeFileSync(file, JSON.stringify(input));
    const r = await cli(['policy', 'eval', dir, '--input', file]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.match(out.revision, /^sha256:/);
    assert.equal(out.decision.status, 401);
    assert.equal(out.decision.code, 'key_missing');
  });

  test('policy lint runs Regal when it is installed', {
    skip: findTool(REGAL) ? false : 'regal is not installed (npm run setup)',
  }, async () => {
    const dir = policyCopy();
    writeFileSync(
      join(dir, 'rego', 'extra.rego'),
      'package portcullis.gateway\n\n# METADATA\n# description: camelCase is not Rego style\nisAdmin if input.key.id == "root"\n',
    );
    const r = await cli(['policy', 'lint', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /regal lint:[\s\S]*prefer-snake-case/);
  });

  test('policy lint fails on unformatted Rego', async () => {
    const dir = policyCopy();
    edit(dir, 'rego/auth.rego', (t) =>
      t.replace('auth_refused if input.auth.enforced', 'auth_refused   if   input.auth.enforced'),
    );
    const r = await cli(['policy', 'lint', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /opa fmt: not formatted/);
  });
});
