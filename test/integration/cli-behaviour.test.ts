// The CLI as a newcomer meets it, run as a subprocess: help everywhere, typos, one-line errors with
// the fix, exit codes, colour, --json, policy eval, an old Node, and serve's startup checks.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { commands } from '../../src/cli/main.ts';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';

const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const CLI = join(REPO_ROOT, 'bin/portcullis.js');
const children: ReturnType<typeof spawn>[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function cli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = REPO_ROOT) {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  // Colour is decided by these alone; an empty FORCE_COLOR would force it.
  for (const name of ['NO_COLOR', 'FORCE_COLOR']) if (!env[name]) delete merged[name];
  const r = spawnSync(NODE, [CLI, ...args], { cwd, encoding: 'utf8', env: merged });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A one-line error: what is wrong, at most a line or two of what to do, never a stack trace. */
function assertOneLineError(stderr: string) {
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
  assert.ok(stderr.trim().split('\n').length <= 3, stderr);
  assert.match(stderr, /^portcullis: /m);
}

describe('help, version and typos', () => {
  const groups = new Set(
    Object.keys(commands)
      .filter((c) => c.includes(' '))
      .map((c) => c.split(' ')[0]),
  );
  for (const name of [...Object.keys(commands), ...groups]) {
    test(`portcullis ${name} --help`, () => {
      const r = cli([...name.split(' '), '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: portcullis ${name} `, 'm'));
    });
  }

  test('--version prints the package version', () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    const r = cli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), version);
  });

  test('a mistyped command or option gets a suggestion and exit 2', () => {
    const cmd = cli(['polcy', 'validate']);
    assert.equal(cmd.code, 2);
    assert.match(cmd.stderr, /unknown command 'polcy' \(did you mean policy\?\)/);
    const sub = cli(['policy', 'valdate']);
    assert.equal(sub.code, 2);
    assert.match(sub.stderr, /did you mean validate\?/);
    const opt = cli(['policy', 'diff', 'a', 'b', '--fial-on-risk']);
    assert.equal(opt.code, 2);
    assert.match(opt.stderr, /unknown option '--fial-on-risk' \(did you mean --fail-on-risk\?\)/);
    assert.match(opt.stderr, /portcullis policy diff --help/);
  });
});

describe('errors say what is wrong and what to do', () => {
  test('a missing policy directory is one line, for every policy command', () => {
    for (const sub of ['validate', 'test', 'lint', 'build', 'eval']) {
      const r = cli([
        'policy',
        sub,
        '/no/such/dir',
        ...(sub === 'eval' ? ['--key', 'x', '--model', 'y'] : []),
      ]);
      assert.equal(r.code, 2, `${sub}: ${r.stderr}`);
      assert.match(r.stderr, /no such policy directory: \/no\/such\/dir/);
      assert.doesNotMatch(r.stderr, /ENOENT|scandir|not formatted/);
      assertOneLineError(r.stderr);
    }
  });

  test('with --json a failure is also a JSON object on stdout', () => {
    const r = cli(['policy', 'build', '/no/such/dir', '--json']);
    assert.equal(r.code, 2);
    assert.deepEqual(JSON.parse(r.stdout).error.message, 'no such policy directory: /no/such/dir');
  });

  test('a missing OPA says how to install it (exit 3), not "opa build failed"', () => {
    const r = cli(['policy', 'validate', 'policies'], { OPA_PATH: '/no/such/opa' });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /opa v[\d.]+ is not available/);
    assert.match(r.stderr, /go install github\.com\/open-policy-agent\/opa@v/);
    assert.doesNotMatch(r.stderr, /opa build failed/);
  });

  test('an invalid policy exits 1 with file:line problems; --json reports them', () => {
    const { dir } = examplePolicyCopy();
    writeFileSync(
      join(dir, 'gateway.yaml'),
      'apiVersion: portcullis.dev/v1\nkind: Gateway\nmetadata: { name: gw }\nspec: { maxRequestBytes: "lots" }\n',
    );
    const r = cli(['policy', 'validate', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /gateway\.yaml:\d+:\d+/);
    assert.match(r.stderr, /portcullis: the policy is invalid \(1 problem\)/);
    const j = cli(['policy', 'validate', dir, '--json']);
    assert.equal(j.code, 1);
    const body = JSON.parse(j.stdout);
    assert.equal(body.valid, false);
    assert.equal(body.problems[0].file, 'gateway.yaml');
    const ok = JSON.parse(cli(['policy', 'validate', 'policies', '--json']).stdout);
    assert.equal(ok.valid, true);
    assert.equal(ok.documents.VirtualKey > 0, true);
  });

  test('policy diff with a --dir that is not there is an error, not "no changes"', () => {
    const r = cli(['policy', 'diff', 'HEAD', 'HEAD', '--dir', 'no-such-policies']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no policy directory 'no-such-policies'/);
  });

  test('--debug adds the stack trace of an unexpected error', () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'portcullis-audit-')), 'audit.db');
    writeFileSync(bad, 'not a database');
    const plain = cli(['audit', 'verify', '--data-dir', join(bad, '..')]);
    assert.equal(plain.code, 3);
    assertOneLineError(plain.stderr.replace(/Run again with --debug.*\n/, ''));
    assert.match(plain.stderr, /--debug/);
    const debug = cli(['audit', 'verify', '--data-dir', join(bad, '..'), '--debug']);
    assert.match(debug.stderr, /^\s+at /m);
  });

  test('colour only when wanted: FORCE_COLOR paints the check mark, NO_COLOR does not', () => {
    const forced = cli(['policy', 'validate', 'policies'], { FORCE_COLOR: '1' });
    assert.match(forced.stdout, /\x1b\[32m✓/);
    const plain = cli(['policy', 'validate', 'policies'], { NO_COLOR: '1' });
    assert.doesNotMatch(plain.stdout, /\x1b\[/);
  });
});

describe('policy eval', () => {
  test('builds the input from the policy for a key and a model', () => {
    const denied = cli(['policy', 'eval', '--key', 'bob-dev', '--model', 'claude-opus-4-8']);
    assert.equal(denied.code, 0, denied.stderr);
    const d = JSON.parse(denied.stdout);
    assert.equal(d.decision.allow, false);
    assert.equal(d.decision.code, 'model_not_allowed');
    assert.equal(d.input.key.team, 'app-dev');
    assert.equal(d.input.surface, 'anthropic.messages');
    const allowed = JSON.parse(
      cli([
        'policy',
        'eval',
        '--key',
        'bob-dev',
        '--model',
        'gpt-5-mini',
        '--surface',
        'openai',
        '--tools',
        'Bash,Read',
      ]).stdout,
    );
    assert.equal(allowed.decision.allow, true);
    assert.equal(allowed.input.provider, 'openai');
    assert.equal(allowed.input.pricedModel, 'gpt-5-mini');
    const disabled = JSON.parse(
      cli(['policy', 'eval', '--key', 'dave-former', '--model', 'claude-haiku-4-5']).stdout,
    );
    assert.equal(disabled.decision.code, 'key_disabled');
  });

  test('an unknown key names the keys that exist', () => {
    const r = cli(['policy', 'eval', '--key', 'nobody', '--model', 'gpt-5-mini']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no VirtualKey 'nobody'.*\n.*bob-dev/);
  });

  test('{} is refused as an input; the sample input file is accepted', () => {
    const empty = join(mkdtempSync(join(tmpdir(), 'portcullis-eval-')), 'empty.json');
    writeFileSync(empty, '{}');
    const r = cli(['policy', 'eval', '--input', empty]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is not a decision input: missing surface, provider, model/);
    const sample = cli(['policy', 'eval', '--input', 'examples/eval-input.json']);
    assert.equal(sample.code, 0, sample.stderr);
    assert.equal(JSON.parse(sample.stdout).decision.allow, true);
  });
});

describe('an old Node', () => {
  // The machine's own node: the first on PATH outside node_modules (npm puts the pinned one first).
  const machineNode = (process.env.PATH ?? '')
    .split(':')
    .filter((d) => d && !d.includes('node_modules'))
    .map((d) => join(d, 'node'))
    .find((p) => spawnSync(p, ['--version']).status === 0);
  const system = machineNode
    ? spawnSync(machineNode, ['--version'], { encoding: 'utf8' }).stdout.trim()
    : 'none';
  const old = machineNode !== undefined && Number(system.slice(1).split('.')[0]) < 22;
  test(`node bin/portcullis.js under the machine's ${system} runs with the pinned Node 24`, {
    skip: old ? false : `the machine's node is ${system}, not an old one`,
  }, () => {
    const r = spawnSync('node', [CLI, 'policy', 'eval', '--key', 'bob-dev', '--model', 'gpt-5-mini'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).decision.allow, true);
    const bad = spawnSync('node', [CLI, 'nope'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(bad.status, 2);
  });
});

function startServe(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(NODE, [CLI, 'serve', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr.on('data', (c) => {
    err += c;
  });
  child.stdout.resume();
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const url = new Promise<string>((resolve, reject) => {
    child.stderr.on('data', () => {
      const m = /upstreams:\n(?:.*\n)*/.test(err) && /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]);
    });
    void exited.then((code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  url.catch(() => {});
  return { child, url, exited, stderr: () => err };
}

describe('serve says what is wrong before the first call', () => {
  test('an upstream variable that names no provider is refused, naming the ones that exist', async () => {
    const { dir } = examplePolicyCopy();
    const data = mkdtempSync(join(tmpdir(), 'portcullis-data-'));
    const gw = startServe(['--policy', dir, '--port', '0', '--data-dir', data], {
      PORTCULLIS_UPSTREAM_GEMINI: 'http://127.0.0.1:9',
    });
    assert.equal(await gw.exited, 2);
    assert.match(gw.stderr(), /PORTCULLIS_UPSTREAM_GEMINI names no provider/);
    assert.match(gw.stderr(), /the gemini API is served by PORTCULLIS_UPSTREAM_GOOGLE/);
    assertOneLineError(gw.stderr());
  });

  test('effective upstreams and missing credentials at start and in /status', async () => {
    const { dir } = examplePolicyCopy();
    const data = mkdtempSync(join(tmpdir(), 'portcullis-data-'));
    const gw = startServe(['--policy', dir, '--port', '0', '--data-dir', data, '--log-level', 'warn'], {
      PORTCULLIS_UPSTREAM_ANTHROPIC: 'http://127.0.0.1:9',
      ANTHROPIC_API_KEY: 'sk-ant-test-value',
      GEMINI_API_KEY: '',
      OPENAI_API_KEY: 'sk-test-value',
    });
    const url = await gw.url;
    const out = gw.stderr();
    assert.match(
      out,
      /anthropic \(anthropic\) → http:\/\/127\.0\.0\.1:9 \(from PORTCULLIS_UPSTREAM_ANTHROPIC\)/,
    );
    assert.match(
      out,
      /google \(gemini\) → https:\/\/generativelanguage\.googleapis\.com \(from the policy\); calls will fail: environment variable GEMINI_API_KEY is not set/,
    );
    const status = (await (await fetch(`${url}/status`)).json()) as {
      upstreams: { provider: string; baseUrl: string; credentialProblem: string | null }[];
    };
    const google = status.upstreams.find((u) => u.provider === 'google');
    assert.match(google?.credentialProblem ?? '', /GEMINI_API_KEY/);
    assert.equal(status.upstreams.find((u) => u.provider === 'anthropic')?.baseUrl, 'http://127.0.0.1:9');
    assert.ok(!JSON.stringify(status).includes('sk-ant-test-value'));
    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, 0);
  });

  test('a port in use is one line with the way out', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as { port: number }).port;
    try {
      const { dir } = examplePolicyCopy();
      const data = mkdtempSync(join(tmpdir(), 'portcullis-data-'));
      const gw = startServe(['--policy', dir, '--port', String(port), '--data-dir', data], {});
      assert.equal(await gw.exited, 3);
      assert.match(gw.stderr(), new RegExp(`port ${port} is already in use`));
      assert.match(gw.stderr(), /--port N .*PORT=N npm start/);
      assertOneLineError(gw.stderr().replace(/^upstreams:[\s\S]*?\n(?=portcullis:)/m, ''));
    } finally {
      busy.close();
    }
  });
});

describe('directory mode names the commit after a reload', () => {
  test('edit (content hash), then commit (the commit SHA), without a restart', async () => {
    const { dir } = examplePolicyCopy();
    const git = (...a: string[]) => execFileSync('git', a, { cwd: dir, encoding: 'utf8' }).trim();
    git('init', '-q');
    git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'add', '-A');
    git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'policy');
    const data = mkdtempSync(join(tmpdir(), 'portcullis-data-'));
    const gw = startServe(['--policy', dir, '--port', '0', '--data-dir', data, '--log-level', 'warn'], {});
    const url = await gw.url;
    const revision = async () =>
      ((await (await fetch(`${url}/status`)).json()) as { policy: { revision: string } }).policy.revision;
    const until = async (want: (r: string) => boolean) => {
      for (let i = 0; i < 100; i++) {
        const r = await revision();
        if (want(r)) return r;
        await new Promise((w) => setTimeout(w, 200));
      }
      throw new Error(`revision stayed ${await revision()}`);
    };
    assert.equal(await revision(), git('rev-parse', 'HEAD'));
    const gateway = join(dir, 'gateway.yaml');
    writeFileSync(gateway, `${readFileSync(gateway, 'utf8')}# edited\n`);
    await until((r) => r.startsWith('sha256:'));
    git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qam', 'edit');
    const head = git('rev-parse', 'HEAD');
    assert.equal(await until((r) => r === head), head);
    gw.child.kill('SIGTERM');
    await gw.exited;
  });
});

describe('docs/agents.md', () => {
  test("configures each agent with a model the example's member keys may use", () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs/agents.md'), 'utf8');
    const codex = /^model = "([^"]+)"$/m.exec(doc)?.[1];
    const claude = /claude -p "hello" --model (\S+)`/.exec(doc)?.[1];
    const gemini = /give them `-m (\S+)`/.exec(doc)?.[1];
    for (const [model, surface] of [
      [codex, 'openai'],
      [claude, 'anthropic'],
      [gemini, 'gemini'],
    ]) {
      assert.ok(model, `a ${surface} model in docs/agents.md`);
      const r = cli([
        'policy',
        'eval',
        '--key',
        'bob-dev',
        '--model',
        model as string,
        '--surface',
        surface as string,
      ]);
      assert.equal(JSON.parse(r.stdout).decision.allow, true, `bob-dev may use ${model}: ${r.stdout}`);
    }
  });
});
