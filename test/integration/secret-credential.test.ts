// A gateway whose OpenAI credential lives in Vault: the upstream receives the Vault value, a rotation
// in Vault reaches calls without a restart, and with Vault down past the TTL calls to that provider
// are refused with a clear error while the key never appears in the gateway's output.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { examplePolicyCopy } from '../fixtures/keys.ts';
import { startVault } from '../secrets/vault-server.ts';
import { startCli } from './cli-process.ts';
import { PROVIDER_SECRETS } from './stack.ts';

const sha = (v: string) => `sha256:${createHash('sha256').update(v).digest('hex')}`;

test('a provider credential from Vault: used, rotated without restart, refused clearly after an outage outlives its TTL', async () => {
  const vault = await startVault();
  await vault.put('llm/openai', { api_key: 'sk-from-vault-1' });
  const { dir, keys } = examplePolicyCopy();
  const providerFile = join(dir, 'providers', 'openai.yaml');
  writeFileSync(
    providerFile,
    readFileSync(providerFile, 'utf8').replace(
      /credential:\n\s+fromEnv: OPENAI_API_KEY/,
      'credential:\n    fromVault: { path: llm/openai, field: api_key, ttlSeconds: 5 }',
    ),
  );
  const sim = startCli(['simulator', '--port', '0'], process.env);
  const simUrl = await sim.url;
  const gw = startCli(
    [
      'serve',
      '--policy',
      dir,
      '--port',
      '0',
      '--data-dir',
      mkdtempSync(join(tmpdir(), 'portcullis-vault-gw-')),
    ],
    {
      ...process.env,
      ...PROVIDER_SECRETS,
      OPENAI_API_KEY: '',
      VAULT_ADDR: vault.address,
      VAULT_TOKEN: vault.rootToken,
      PORTCULLIS_UPSTREAM_OPENAI: simUrl,
      PORTCULLIS_UPSTREAM_ANTHROPIC: simUrl,
      PORTCULLIS_UPSTREAM_GOOGLE: simUrl,
    },
  );
  const url = await gw.url;
  const call = () =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.member}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
  const upstreamAuth = async () => {
    const recorded = (await (await fetch(`${simUrl}/__sim/requests`)).json()) as {
      headers: Record<string, string>;
    }[];
    return recorded.at(-1)?.headers.authorization;
  };
  try {
    assert.equal((await call()).status, 200);
    assert.equal(await upstreamAuth(), sha('Bearer sk-from-vault-1'));
    const status = (await (await fetch(`${url}/status`)).json()) as {
      secrets: { secret: string; state: string }[];
    };
    assert.deepEqual(
      status.secrets.map((x) => [x.secret, x.state]),
      [['Vault secret/llm/openai#api_key', 'ok']],
    );

    await vault.put('llm/openai', { api_key: 'sk-from-vault-2' });
    const deadline = Date.now() + 15_000;
    let auth = '';
    while (Date.now() < deadline && auth !== sha('Bearer sk-from-vault-2')) {
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await call()).status, 200);
      auth = (await upstreamAuth()) ?? '';
    }
    assert.equal(
      auth,
      sha('Bearer sk-from-vault-2'),
      'the rotated key reached the upstream without a restart',
    );

    await vault.stop();
    await new Promise((r) => setTimeout(r, 6_000));
    const refused = await call();
    assert.equal(refused.status, 502);
    const body = JSON.stringify(await refused.json());
    assert.match(body, /Vault secret\/llm\/openai#api_key expired at/);
    assert.doesNotMatch(body, /sk-from-vault/);
    // Other providers are unaffected.
    const anthropic = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: {
        'x-api-key': keys.member,
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
      },
      body: JSON.stringify({
        model: 'claude-haiku-4-5',
        max_tokens: 16,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    assert.equal(anthropic.status, 200, await anthropic.text());

    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, 0);
    assert.doesNotMatch(gw.output(), /sk-from-vault/);
    assert.match(gw.output(), /secret manager unreachable/);
  } finally {
    sim.child.kill('SIGTERM');
    await vault.stop();
  }
});
