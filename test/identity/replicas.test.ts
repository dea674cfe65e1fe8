// Two gateway replicas sharing Redis: a personal key issued by one works on the other, and a key
// revoked through one replica is refused by the other within 2 s.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gatewayCall, login } from '../../src/identity/session.ts';
import { anthropicCall, type GatewayProcess, killAll, startGateway, startSimulator } from '../e2e/helpers.ts';
import { RedisServer, redisAvailable } from '../limits/redis-server.ts';
import { identityPolicy, tempConfigEnv } from './helpers.ts';
import { startTestIdp, type TestIdp } from './oidc-server.ts';

describe('personal keys on two replicas sharing Redis', { skip: !redisAvailable() }, () => {
  let idp: TestIdp;
  let redis: RedisServer;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let sim: Awaited<ReturnType<typeof startSimulator>>;

  before(async () => {
    idp = await startTestIdp();
    idp.users.set('dana', { email: 'dana@acme.example', groups: ['app-developers'] });
    idp.users.set('sam', { email: 'sam@acme.example', groups: ['platform-engineering'] });
    redis = new RedisServer();
    await redis.start();
    sim = await startSimulator();
    const policyDir = identityPolicy(idp.issuer, { redis: true });
    const env = { PORTCULLIS_REDIS_URL: redis.url };
    [a, b] = await Promise.all([
      startGateway({ policyDir, simUrl: sim.url, env }),
      startGateway({ policyDir, simUrl: sim.url, env }),
    ]);
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await sim?.sim.close();
    await redis?.stop();
    await idp?.close();
    killAll();
  });

  const signIn = async (user: string) => {
    idp.browserUser = user;
    const browsing: Promise<string>[] = [];
    const saved = await login({
      gateway: a.url,
      flow: 'device',
      env: tempConfigEnv(),
      onDevicePrompt: (p) => browsing.push(idp.browse(p.verificationUriComplete ?? p.verificationUri)),
    });
    await Promise.all(browsing);
    return saved;
  };

  test('a key issued by replica A works on B; revoked through A, B refuses it within 2 s', async () => {
    const dana = await signIn('dana');
    const sam = await signIn('sam');
    assert.equal((await anthropicCall(b.url, dana.personalKey)).status, 200, 'B knows the key A issued');
    // B has the key cached now; the revocation has to reach its cache.
    const started = Date.now();
    await gatewayCall(a.url, '/identity/keys/revoke', {
      token: sam.personalKey,
      body: { keyId: dana.keyId },
    });
    let status = 200;
    while (status !== 401 && Date.now() - started < 5_000) {
      status = (await anthropicCall(b.url, dana.personalKey)).status;
    }
    const elapsed = Date.now() - started;
    process.stderr.write(`revocation visible on the second replica after ${elapsed} ms\n`);
    assert.equal(status, 401);
    assert.ok(elapsed < 2_000, `took ${elapsed} ms`);
    const listed = await gatewayCall<{ keys: { id: string; status: string; revokedBy?: string }[] }>(
      b.url,
      '/identity/keys?all=true',
      { token: sam.personalKey },
    );
    const record = listed.keys.find((k) => k.id === dana.keyId);
    assert.equal(record?.status, 'revoked');
    assert.equal(record?.revokedBy, 'sam@acme.example');
  });
});
