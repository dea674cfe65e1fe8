// Provider credentials from Vault KV v2 with token and Kubernetes auth, through the TTL cache:
// fetched, rotated without a restart, kept through an outage until the TTL, then refused clearly;
// never in a log line.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { SecretCache } from '../../src/secrets/cache.ts';
import type { SecretRef } from '../../src/secrets/types.ts';
import { VaultFetcher, vaultOptionsFromEnv } from '../../src/secrets/vault.ts';
import { collectingLogger } from '../sync/helpers.ts';
import { startVault, type TestVault } from './vault-server.ts';

const OPENAI: SecretRef = {
  manager: 'vault',
  mount: 'secret',
  path: 'llm/openai',
  field: 'api_key',
  ttlSeconds: 60,
};
const ISSUER = 'https://kubernetes.default.svc.cluster.local';

describe('Vault KV v2', () => {
  let vault: TestVault;
  before(async () => {
    vault = await startVault();
    process.stderr.write(`[vault test] against: ${vault.kind}\n`);
    await vault.put('llm/openai', { api_key: 'sk-vault-first', other: 'x' });
  });
  after(() => vault.stop());

  test('token auth: the value is read, rotated on refresh, kept through an outage until its TTL, then refused', async () => {
    let now = 1_000_000;
    const { logger, lines } = collectingLogger();
    const cache = new SecretCache({
      fetchers: { vault: new VaultFetcher({ address: vault.address, token: vault.rootToken }) },
      log: logger,
      now: () => now,
      retryMs: 60_000,
    });
    try {
      assert.match(cache.read(OPENAI).error ?? '', /is being fetched/);
      assert.equal((await cache.load(OPENAI)).value, 'sk-vault-first');

      await vault.put('llm/openai', { api_key: 'sk-vault-rotated' });
      now += 30_000; // within the TTL and before the refresh point: the cached value
      assert.equal((await cache.load(OPENAI)).value, 'sk-vault-first');
      now += 20_000; // past 80 % of the TTL: refreshed
      assert.equal((await cache.load(OPENAI)).value, 'sk-vault-rotated');

      const missing = await cache.load({ ...OPENAI, path: 'llm/nothing' });
      assert.match(missing.error ?? '', /Vault has no secret at secret\/llm\/nothing/);
      const noField = await cache.load({ ...OPENAI, field: 'apiKey' });
      assert.match(noField.error ?? '', /no non-empty string field 'apiKey'/);

      await vault.stop();
      now += 50_000; // refresh due, Vault down: the cached value still serves
      assert.equal((await cache.load(OPENAI)).value, 'sk-vault-rotated');
      now += 11_000; // past the TTL
      const refused = cache.read(OPENAI);
      assert.equal(refused.value, undefined);
      assert.match(
        refused.error ?? '',
        /Vault secret\/llm\/openai#api_key expired at .* cannot be renewed: Vault at http:\/\/127\.0\.0\.1:\d+ is unreachable/,
      );
      assert.ok(lines.some((l) => /secret manager unreachable/.test(l)));
      for (const line of lines) assert.doesNotMatch(line, /sk-vault/);
    } finally {
      await cache.close();
      vault = await startVault();
      await vault.put('llm/openai', { api_key: 'sk-vault-first' });
    }
  });

  test('Kubernetes auth: the service-account JWT logs in for the role; a JWT the cluster did not sign is refused', async () => {
    const cluster = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const publicPem = cluster.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await vault.enableKubernetesAuth('portcullis', publicPem, ISSUER);
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-sa-'));
    const serviceAccountJwt = (key = cluster.privateKey) =>
      new SignJWT({
        'kubernetes.io/serviceaccount/namespace': 'ai-gateway',
        'kubernetes.io/serviceaccount/service-account.name': 'portcullis',
        'kubernetes.io/serviceaccount/service-account.uid': '6a1b3e2c-2c5e-4a57-9d0e-4c4b1b8a0f11',
        'kubernetes.io/serviceaccount/secret.name': 'portcullis-token',
      })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer(ISSUER)
        .setSubject('system:serviceaccount:ai-gateway:portcullis')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(key);
    const jwtFile = join(dir, 'token');
    writeFileSync(jwtFile, await serviceAccountJwt());
    const options = vaultOptionsFromEnv({
      VAULT_ADDR: vault.address,
      PORTCULLIS_VAULT_K8S_ROLE: 'portcullis',
      PORTCULLIS_VAULT_K8S_JWT_FILE: jwtFile,
    });
    const fetcher = new VaultFetcher(options!);
    assert.equal(await fetcher.fetch(OPENAI), 'sk-vault-first');

    const intruder = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(jwtFile, await serviceAccountJwt(intruder.privateKey));
    const other = new VaultFetcher({ ...options!, kubernetes: { role: 'portcullis', jwtFile } });
    await assert.rejects(other.fetch(OPENAI), /Kubernetes login as role 'portcullis' failed: HTTP 403/);
    const wrongRole = new VaultFetcher({ ...options!, kubernetes: { role: 'admin', jwtFile } });
    await assert.rejects(wrongRole.fetch(OPENAI), /Kubernetes login as role 'admin' failed: HTTP 400/);
    await Promise.all([fetcher.close(), other.close(), wrongRole.close()]);
  });
});
