// `portcullis simulator` and `portcullis serve` as child processes, as a user runs them.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';
import { PROVIDER_SECRETS } from './stack.ts';

const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const CLI = join(REPO_ROOT, 'bin/portcullis.js');
const children: ChildProcess[] = [];

function start(args: string[], env: NodeJS.ProcessEnv, urlFrom: 'stdout' | 'stderr') {
  const child = spawn(NODE, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => {
    out += c;
  });
  child.stderr!.on('data', (c) => {
    err += c;
  });
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL from ${args[0]}: ${err}`)), 60_000);
    const look = () => {
      const m = /listening on (http:\/\/\S+)/.exec(urlFrom === 'stdout' ? out : err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child[urlFrom]!.on('data', look);
    child.once('exit', (code) => reject(new Error(`${args[0]} exited ${code}: ${err}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, url, exited, output: () => out + err };
}

after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

test('serve + simulator: ready, a call goes through, logs hold no key, SIGTERM exits cleanly', async () => {
  const sim = start(['simulator', '--port', '0'], process.env, 'stdout');
  const simUrl = await sim.url;
  const { dir, keys } = examplePolicyCopy();
  const env = {
    ...process.env,
    ...PROVIDER_SECRETS,
    PORTCULLIS_UPSTREAM_OPENAI: simUrl,
    PORTCULLIS_UPSTREAM_ANTHROPIC: simUrl,
    PORTCULLIS_UPSTREAM_GOOGLE: simUrl,
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-data-'));
  const gw = start(['serve', '--policy', dir, '--port', '0', '--data-dir', dataDir], env, 'stderr');
  const url = await gw.url;

  const ready = await fetch(`${url}/readyz`);
  assert.equal(ready.status, 200);
  const res = await fetch(`${url}/v1/messages?beta=true`, {
    method: 'POST',
    headers: {
      'x-api-key': keys.member,
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
    },
    body: JSON.stringify({
      model: 'claude-haiku-4-5',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
    }),
  });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { type: string }).type, 'message');
  const denied = await fetch(`${url}/v1beta/models/gemini-2.5-pro:generateContent?key=${keys.member}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"contents":[]}',
  });
  assert.equal(denied.status, 403);

  gw.child.kill('SIGTERM');
  assert.equal(await gw.exited, 0);
  sim.child.kill('SIGTERM');
  assert.equal(await sim.exited, 0);
  const logs = gw.output();
  assert.match(logs, /"msg":"call"/);
  for (const secret of [keys.member, ...Object.values(PROVIDER_SECRETS)]) assert.ok(!logs.includes(secret));
});

test('serve refuses an invalid policy with file:line problems', async () => {
  const bad = mkdtempSync(join(tmpdir(), 'portcullis-bad-'));
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    join(bad, 'gateway.yaml'),
    'apiVersion: portcullis.dev/v1\nkind: Gateway\nmetadata: { name: gw }\nspec: { maxRequestBytes: "lots" }\n',
  );
  const gw = start(['serve', '--policy', bad, '--port', '0'], process.env, 'stderr');
  gw.url.catch(() => {});
  assert.equal(await gw.exited, 1);
  assert.match(gw.output(), /gateway\.yaml:\d+:\d+/);
});
