// The production path of issue #21: CI builds and signs a bundle with `portcullis policy build`; a
// gateway with no OPA anywhere (OPA_PATH pointing nowhere, no .tools/bin on PATH) follows it over HTTP
// and enforces it, and picks up the next signed revision by ETag polling.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { findTool, OPA, REPO_ROOT } from '../../src/toolchain/tools.ts';
import { KEY_IDS, TEST_KEYS } from '../fixtures/keys.ts';
import { BundleServer, rsaKeyPair } from '../sync/bundle-helpers.ts';
import { git, policyRepo, tempDir } from '../sync/helpers.ts';
import { startCli } from './cli-process.ts';
import { PROVIDER_SECRETS } from './stack.ts';

const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const CLI = join(REPO_ROOT, 'bin/portcullis.js');
const opa = findTool(OPA);

test('a gateway without OPA follows and enforces a signed bundle built by `portcullis policy build`', {
  skip: !opa && 'building the bundle needs the OPA CLI (npm run setup)',
}, async () => {
  const repo = policyRepo();
  const keys = tempDir('bundle-keys');
  const pair = rsaKeyPair();
  writeFileSync(join(keys, 'signing.pem'), pair.privateKey);
  writeFileSync(join(keys, 'public.pem'), pair.publicKey);
  const buildBundle = () => {
    execFileSync(
      NODE,
      [
        CLI,
        'policy',
        'build',
        repo.work,
        '-o',
        join(keys, 'bundle.tar.gz'),
        '--signing-key',
        join(keys, 'signing.pem'),
      ],
      { stdio: 'pipe' },
    );
    return readFileSync(join(keys, 'bundle.tar.gz'));
  };
  const server = new BundleServer();
  const bundleUrl = await server.listen();
  server.publish(buildBundle());
  const firstRevision = git(repo.work, 'rev-parse', 'HEAD');
  try {
    const sim = startCli(['simulator', '--port', '0'], process.env);
    const simUrl = await sim.url;
    const withoutTools = (process.env.PATH ?? '')
      .split(delimiter)
      .filter((d) => !d.includes('.tools'))
      .join(delimiter);
    const env = {
      ...process.env,
      ...PROVIDER_SECRETS,
      PATH: withoutTools,
      OPA_PATH: '/nonexistent/opa',
      PORTCULLIS_UPSTREAM_OPENAI: simUrl,
      PORTCULLIS_UPSTREAM_ANTHROPIC: simUrl,
      PORTCULLIS_UPSTREAM_GOOGLE: simUrl,
    };
    const gw = startCli(
      [
        'serve',
        '--bundle',
        bundleUrl,
        '--bundle-public-key',
        join(keys, 'public.pem'),
        '--poll',
        '1',
        '--port',
        '0',
        '--data-dir',
        tempDir('bundle-gw'),
      ],
      env,
    );
    const url = await gw.url;
    const status = async () =>
      (await (await fetch(`${url}/status`)).json()) as {
        revision?: string;
        sync?: { active?: { revision: string } };
      };
    assert.equal((await status()).sync?.active?.revision, firstRevision);

    const call = () =>
      fetch(`${url}/v1/messages`, {
        method: 'POST',
        headers: {
          'x-api-key': TEST_KEYS.member,
          'content-type': 'application/json',
          'anthropic-version': '2023-06-01',
        },
        body: JSON.stringify({
          model: 'claude-haiku-4-5',
          max_tokens: 16,
          messages: [{ role: 'user', content: 'hi' }],
        }),
      });
    assert.equal((await call()).status, 200);
    const denied = await fetch(
      `${url}/v1beta/models/gemini-2.5-pro:generateContent?key=${TEST_KEYS.member}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"contents":[]}',
      },
    );
    assert.equal(denied.status, 403);

    // The platform team takes Haiku from bob; CI publishes the next signed bundle; the gateway follows.
    const next = repo.change(
      'keys/app-dev.yaml',
      (text) => text.replace(/claude-haiku-4-5\*,\s*/, ''),
      `No Haiku for ${KEY_IDS.member}`,
    );
    server.publish(buildBundle());
    let active = '';
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && active !== next) {
      await new Promise((r) => setTimeout(r, 200));
      active = (await status()).sync?.active?.revision ?? '';
    }
    assert.equal(active, next);
    assert.equal((await call()).status, 403);

    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, 0);
    sim.child.kill('SIGTERM');
    await sim.exited;
    assert.doesNotMatch(gw.output(), /go install|is not available/);
  } finally {
    await server.close();
  }
});
