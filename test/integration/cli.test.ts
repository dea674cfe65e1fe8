// `portcullis simulator` and `portcullis serve` as child processes, as a user runs them.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { examplePolicyCopy } from '../fixtures/keys.ts';
import { startCli } from './cli-process.ts';
import { PROVIDER_SECRETS } from './stack.ts';

test('serve + simulator: ready, a call goes through, logs hold no key, SIGTERM exits cleanly', async () => {
  const sim = startCli(['simulator', '--port', '0'], process.env);
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
  const gw = startCli(['serve', '--policy', dir, '--port', '0', '--data-dir', dataDir], env);
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
  const gw = startCli(['serve', '--policy', bad, '--port', '0'], process.env);
  gw.url.catch(() => {});
  assert.equal(await gw.exited, 1);
  assert.match(gw.output(), /gateway\.yaml:\d+:\d+/);
});
