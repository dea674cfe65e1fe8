// `npm start` as a newcomer runs it, twice: the demo's scripts as subprocesses with their own data
// directory and port, and the setup step it runs first.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';

const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const DEMO = join(REPO_ROOT, 'scripts/demo.ts');
const children: ReturnType<typeof spawn>[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

const demoEnv = (dataDir: string, port: number) => ({
  ...process.env,
  PORT: String(port),
  PORTCULLIS_DEMO_DATA_DIR: dataDir,
});

test('setup for npm start builds only OPA; --lint adds Regal and actionlint', () => {
  const plain = spawnSync(NODE, ['scripts/setup-tools.ts'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stderr, /\[setup\] opa: /);
  assert.doesNotMatch(plain.stderr, /regal|actionlint/);
  const start = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).scripts.start as string;
  assert.match(start, /setup-tools\.ts && /);
  assert.doesNotMatch(start, /--lint/);
});

test('a second npm start leaves the first one and its keys alone; a busy port says what to do', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-demo-'));
  const port = await freePort();
  const first = spawn(NODE, [DEMO], {
    cwd: REPO_ROOT,
    env: demoEnv(dataDir, port),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(first);
  let out = '';
  first.stdout.on('data', (c) => {
    out += c;
  });
  first.stderr.resume();
  await new Promise<void>((ready, fail) => {
    first.stdout.on('data', () => out.includes('Press Ctrl-C') && ready());
    first.once('exit', (code) => fail(new Error(`demo exited ${code}: ${out}`)));
  });
  const bob = /bob-dev\s+(pcl_\S+)/.exec(out)?.[1] as string;
  const policyBefore = readFileSync(join(dataDir, 'policy', 'keys', 'app-dev.yaml'), 'utf8');
  const call = () =>
    fetch(`http://127.0.0.1:${port}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': bob, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({
        model: 'claude-haiku-4-5',
        max_tokens: 16,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
  assert.equal((await call()).status, 200);

  const second = spawnSync(NODE, [DEMO], {
    cwd: REPO_ROOT,
    env: demoEnv(dataDir, await freePort()),
    encoding: 'utf8',
  });
  assert.equal(second.status, 3);
  assert.match(
    second.stderr,
    new RegExp(`a demo is already running \\(pid ${first.pid}\\) at http://127\\.0\\.0\\.1:${port}`),
  );
  assert.doesNotMatch(second.stderr, /^\s+at /m);
  assert.equal(readFileSync(join(dataDir, 'policy', 'keys', 'app-dev.yaml'), 'utf8'), policyBefore);
  assert.equal((await call()).status, 200, 'the first demo still accepts the key it printed');

  // Another program on the port: refused before anything is written.
  const otherData = mkdtempSync(join(tmpdir(), 'portcullis-demo-'));
  const busy = spawnSync(NODE, [DEMO], { cwd: REPO_ROOT, env: demoEnv(otherData, port), encoding: 'utf8' });
  assert.equal(busy.status, 3);
  assert.match(
    busy.stderr,
    new RegExp(
      `port ${port} is already in use by another program\\.\\nPick another one: PORT=\\d+ npm start`,
    ),
  );

  first.kill('SIGINT');
  await new Promise((r) => first.once('exit', r));

  // The README's audit commands, pointed at the demo's data directory.
  const verify = spawnSync(
    NODE,
    [join(REPO_ROOT, 'bin/portcullis.js'), 'audit', 'verify', '--data-dir', dataDir],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(verify.status, 0, verify.stderr);
  assert.match(verify.stdout, /OK, \d+ records/);
});

test('the README points audit commands at the directory npm start writes', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  assert.match(readme, /^npx portcullis audit verify --data-dir \.data\/demo$/m);
  const demo = readFileSync(DEMO, 'utf8');
  assert.match(demo, /join\(REPO_ROOT, '\.data', 'demo'\)/);
});
