// What authenticating a person costs over a static key: the identity authenticator on a static
// key, a cached personal key and a cached IdP JWT, each after its first (store or JWKS) lookup.
// Target: a personal key or a cached JWT adds at most 5 µs p50 over a static key.
// Run: npm run bench identity
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importJWK, SignJWT } from 'jose';
import { authenticate as gatewayAuthenticate } from '../src/gateway/authenticate.ts';
import { IdentityAuthenticator } from '../src/identity/authenticator.ts';
import { TokenVerifier } from '../src/identity/jwt.ts';
import { hashKey, mintPersonalKey } from '../src/identity/key-store.ts';
import { SqlitePersonalKeyStore } from '../src/identity/sqlite-keys.ts';
import { buildSnapshot } from '../src/policy/build-snapshot.ts';
import { examplePolicyCopy } from '../test/fixtures/keys.ts';
import { identityPolicy } from '../test/identity/helpers.ts';
import { AUDIENCE, startTestIdp } from '../test/identity/oidc-server.ts';

const BATCH = 100;
const BATCHES = Number(process.argv[process.argv.indexOf('--batches') + 1]) || 2_000;

/** p50 and p99 of the per-call time, measured over batches of BATCH calls. */
function measure(name: string, fn: () => unknown): number {
  for (let i = 0; i < 20_000; i++) fn(); // warm up (JIT)
  const samples: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1000 / BATCH);
  }
  samples.sort((x, y) => x - y);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  process.stdout.write(`${name.padEnd(44)} p50 ${at(0.5).toFixed(2)} µs  p99 ${at(0.99).toFixed(2)} µs\n`);
  return at(0.5);
}

const idp = await startTestIdp();
const data = mkdtempSync(join(tmpdir(), 'portcullis-bench-identity-'));
const store = new SqlitePersonalKeyStore(join(data, 'identity.db'));
const authenticator = new IdentityAuthenticator({ store: () => store, verifier: new TokenVerifier() });
try {
  const dir = identityPolicy(idp.issuer);
  const { keys } = examplePolicyCopy();
  // identityPolicy builds on its own copy; give bob-dev the same test key there.
  const { setKeyHashes } = await import('../test/fixtures/keys.ts');
  setKeyHashes(dir, { 'bob-dev': keys.member });
  const snapshot = await buildSnapshot({ dir, cacheDir: join(data, 'cache') });
  const now = Date.now();

  const { key: personal, id } = mintPersonalKey();
  await store.insert({
    id,
    hash: hashKey(personal),
    idp: 'acme-sso',
    subject: 'dana',
    email: 'dana@acme.example',
    groups: ['app-developers'],
    createdAt: now,
    expiresAt: now + 3_600_000,
  });
  const first = await authenticator.authenticate(snapshot, personal, now);
  if (first.status !== 'ok') throw new Error(`personal key: ${first.status} ${first.reason ?? ''}`);

  const jwk = idp.keys[0].jwk;
  const token = await new SignJWT({ sub: 'gina', email: 'gina@acme.example', groups: ['app-developers'] })
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid })
    .setIssuer(idp.issuer)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(await importJWK(jwk, 'RS256'));
  const t0 = process.hrtime.bigint();
  const jwtFirst = await authenticator.authenticate(snapshot, token, now);
  const firstJwtMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (jwtFirst.status !== 'ok') throw new Error(`jwt: ${jwtFirst.status}`);

  const check = (r: unknown) => {
    if (r instanceof Promise || (r as { status: string }).status !== 'ok')
      throw new Error('not answered from cache');
  };
  const staticGateway = measure('static key (gateway virtual-key lookup)', () =>
    check(gatewayAuthenticate(snapshot, keys.member, now)),
  );
  const staticKey = measure('static key (identity authenticator)', () =>
    check(authenticator.authenticate(snapshot, keys.member, now)),
  );
  const personalKey = measure('personal key, cached', () =>
    check(authenticator.authenticate(snapshot, personal, now)),
  );
  const jwt = measure('IdP JWT access token, cached', () =>
    check(authenticator.authenticate(snapshot, token, now)),
  );
  process.stdout.write(
    `first sight of the JWT (discovery + JWKS fetch + RS256 verify): ${firstJwtMs.toFixed(1)} ms\n`,
  );
  const over = (v: number) => `${(v - staticKey).toFixed(2)} µs`;
  process.stdout.write(
    `over a static key: personal ${over(personalKey)}, JWT ${over(jwt)} (target ≤ 5 µs); ` +
      `identity authenticator vs gateway's own on a static key: ${(staticKey - staticGateway).toFixed(2)} µs\n`,
  );
  if (personalKey - staticKey > 5 || jwt - staticKey > 5) process.exitCode = 1;
} finally {
  await authenticator.close();
  await store.close();
  await idp.close();
  rmSync(data, { recursive: true, force: true });
}
