// People signing in against a real OpenID Provider (oidc-provider) and working through a real
// gateway process: device flow and code + PKCE, personal keys under the team's per-member budget,
// the person in audit records, roles on the HTTP API, refusal without a mapped group, revocation,
// a disabled user, JWKS rotation, bad tokens, and an IdP that is down.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import { configDir } from '../../src/identity/credentials.ts';
import { freshKey, gatewayCall, login } from '../../src/identity/session.ts';
import { SignInError } from '../../src/identity/signin.ts';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';
import { anthropicCall, type GatewayProcess, killAll, startGateway, startSimulator } from '../e2e/helpers.ts';
import { identityPolicy, tempConfigEnv } from './helpers.ts';
import { AUDIENCE, CLIENT_ID, newSigningKey, startTestIdp, type TestIdp } from './oidc-server.ts';

const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const CLI = join(REPO_ROOT, 'bin/portcullis.js');

/** `portcullis …` as a signed-in person (their CLI config directory in `env`). */
function cli(args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync(NODE, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let idp: TestIdp;
let gw: GatewayProcess;
let sim: Awaited<ReturnType<typeof startSimulator>>;

async function deviceLogin(user: string, env = tempConfigEnv()) {
  idp.browserUser = user;
  const browsing: Promise<string>[] = [];
  const saved = await login({
    gateway: gw.url,
    flow: 'device',
    env,
    onDevicePrompt: (p) => {
      browsing.push(idp.browse(p.verificationUriComplete ?? p.verificationUri));
    },
  });
  await Promise.all(browsing);
  return { saved, env };
}

function savedAccessToken(env: NodeJS.ProcessEnv): string | undefined {
  return JSON.parse(readFileSync(join(configDir(env), 'credentials.json'), 'utf8')).gateways[gw.url]
    .accessToken;
}

before(async () => {
  idp = await startTestIdp();
  idp.users.set('dana', { email: 'dana@acme.example', groups: ['app-developers'] });
  idp.users.set('erik', { email: 'erik@acme.example', groups: ['app-developers'] });
  idp.users.set('sam', { email: 'sam@acme.example', groups: ['security-audit', 'platform-engineering'] });
  idp.users.set('sal', { email: 'sal@acme.example', groups: ['sales'] });
  for (const name of ['fred', 'gina', 'hank']) {
    idp.users.set(name, { email: `${name}@acme.example`, groups: ['app-developers'] });
  }
  sim = await startSimulator();
  gw = await startGateway({
    policyDir: identityPolicy(idp.issuer),
    simUrl: sim.url,
    env: { PORTCULLIS_JWKS_COOLDOWN_MS: '0' },
  });
});

after(async () => {
  await gw?.stop();
  await sim?.sim.close();
  await idp?.close();
  killAll();
});

describe('sign-in and personal keys', () => {
  test('device flow: a developer signs in, gets a personal key for their team, and calls through the gateway', async () => {
    const { saved } = await deviceLogin('dana');
    assert.equal(saved.subject, 'dana');
    assert.equal(saved.email, 'dana@acme.example');
    assert.equal(saved.team, 'app-dev');
    assert.match(saved.personalKey, /^pcp_/);
    const lifetime = Date.parse(saved.expiresAt) - Date.now();
    assert.ok(lifetime > 11.9 * 3_600_000 && lifetime <= 12 * 3_600_000, `12h key, got ${lifetime} ms`);

    const res = await anthropicCall(gw.url, saved.personalKey);
    assert.equal(res.status, 200, res.text);

    const me = await gatewayCall<{ team: string; kind: string; groups: string[]; roles: string[] }>(
      gw.url,
      '/identity/whoami',
      { token: saved.personalKey },
    );
    assert.deepEqual(
      { team: me.team, kind: me.kind, groups: me.groups, roles: me.roles },
      { team: 'app-dev', kind: 'personal', groups: ['app-developers'], roles: [] },
    );
  });

  test("the team's members template limits each person separately: a third call passes the per-person budget", async () => {
    const { saved: erik } = await deviceLogin('erik');
    assert.equal((await anthropicCall(gw.url, erik.personalKey)).status, 200);
    assert.equal((await anthropicCall(gw.url, erik.personalKey)).status, 200);
    const third = await anthropicCall(gw.url, erik.personalKey);
    assert.equal(third.status, 402, third.text);
    assert.match(third.text, /budget/i);
    // A second sign-in is the same person: the budget is theirs, not the key's.
    const { saved: again } = await deviceLogin('erik');
    assert.notEqual(again.keyId, erik.keyId);
    assert.equal((await anthropicCall(gw.url, again.personalKey)).status, 402);
  });

  test('authorization code + PKCE through a loopback redirect', async () => {
    idp.browserUser = 'fred';
    const env = tempConfigEnv();
    const saved = await login({
      gateway: gw.url,
      flow: 'browser',
      env,
      openUrl: (url) => {
        void idp.browse(url).then((callback) => fetch(callback));
      },
    });
    assert.equal(saved.subject, 'fred');
    assert.equal((await anthropicCall(gw.url, saved.personalKey)).status, 200);
  });

  test('a user in no mapped group is refused at sign-in, with the reason and their groups', async () => {
    await assert.rejects(deviceLogin('sal'), (e: Error) => {
      assert.match(e.message, /sal@acme\.example is in none of the groups/);
      assert.match(e.message, /carries groups sales/);
      assert.match(e.message, /mapped: platform-engineering, app-developers/);
      return true;
    });
  });

  test('the audit record names the person; roles decide who reads audit and usage over HTTP', async () => {
    const { saved: dana } = await deviceLogin('dana');
    const { saved: sam, env: samEnv } = await deviceLogin('sam');
    assert.deepEqual(sam.roles.sort(), ['auditor', 'key-admin', 'viewer']);
    await assert.rejects(
      gatewayCall(gw.url, '/identity/audit', { token: dana.personalKey }),
      /needs the 'auditor' role/,
    );
    // Records are written off the request path; wait for dana's first call to land.
    let entries: { record: Record<string, unknown> }[] = [];
    for (let i = 0; i < 50 && entries.length === 0; i++) {
      ({ entries } = await gatewayCall<{ entries: { record: Record<string, unknown> }[] }>(
        gw.url,
        `/identity/audit?key=${encodeURIComponent('user:acme-sso:dana')}`,
        { token: sam.personalKey },
      ));
      if (entries.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(entries.length > 0, 'dana’s calls are in the audit log');
    const person = entries[0].record.person as Record<string, unknown>;
    assert.equal(person.subject, 'dana');
    assert.equal(person.email, 'dana@acme.example');
    assert.deepEqual(person.groups, ['app-developers']);
    assert.equal(person.kind, 'personal');
    assert.equal(person.idp, 'acme-sso');
    assert.equal(entries[0].record.owner, 'dana@acme.example');
    assert.equal(entries[0].record.team, 'app-dev');

    const usage = await gatewayCall<{ rows: { name: string; calls: number }[] }>(
      gw.url,
      '/identity/usage?by=person',
      {
        token: sam.personalKey,
      },
    );
    assert.ok(usage.rows.some((r) => r.name === 'dana@acme.example' && r.calls >= 1));
    await assert.rejects(
      gatewayCall(gw.url, '/identity/usage', { token: dana.personalKey }),
      /needs the 'viewer' role/,
    );

    // The CLI, as the signed-in auditor, against the remote gateway.
    const audit = cli(['audit', 'query', '--gateway', gw.url, '--key', 'user:acme-sso:dana'], samEnv);
    assert.equal(audit.status, 0, audit.stderr);
    assert.match(audit.stdout, /user:acme-sso:dana\s+app-dev\s+e2e-metered\s+allowed/);
    const usageCli = cli(['usage', '--gateway', gw.url, '--by', 'team'], samEnv);
    assert.equal(usageCli.status, 0, usageCli.stderr);
    assert.match(usageCli.stdout, /^app-dev\s+\d+/m);
  });

  test('keys list shows holders and last use; a key-admin revokes by user and the key stops at once', async () => {
    const { saved: dana } = await deviceLogin('dana');
    const { saved: sam } = await deviceLogin('sam');
    assert.equal((await anthropicCall(gw.url, dana.personalKey)).status, 200);
    const own = await gatewayCall<{ keys: { subject: string }[] }>(gw.url, '/identity/keys?subject=sam', {
      token: dana.personalKey,
    }).catch((e: Error) => e);
    assert.ok(
      own instanceof Error && /key-admin/.test(own.message),
      'only a key-admin lists other people’s keys',
    );
    const mine = await gatewayCall<{ keys: { subject: string }[] }>(gw.url, '/identity/keys', {
      token: dana.personalKey,
    });
    assert.ok(mine.keys.length >= 1 && mine.keys.every((k) => k.subject === 'dana'));
    const all = await gatewayCall<{ keys: { subject: string; id: string; hash?: string }[] }>(
      gw.url,
      '/identity/keys',
      {
        token: sam.personalKey,
      },
    );
    assert.ok(all.keys.some((k) => k.subject === 'dana') && all.keys.some((k) => k.subject === 'sam'));
    assert.ok(
      all.keys.every((k) => k.hash === undefined),
      'hashes are never listed',
    );

    const { revoked } = await gatewayCall<{ revoked: { subject: string }[] }>(
      gw.url,
      '/identity/keys/revoke',
      {
        token: sam.personalKey,
        body: { subject: 'dana' },
      },
    );
    assert.ok(revoked.length >= 1 && revoked.every((k) => k.subject === 'dana'));
    const refused = await anthropicCall(gw.url, dana.personalKey);
    assert.equal(refused.status, 401);
    assert.match(refused.text, /revoked/);
  });

  test('a user disabled in the IdP loses access when their key expires: the refresh is refused', async () => {
    const { saved, env } = await deviceLogin('erik');
    assert.ok(saved.refreshToken, 'offline_access gave a refresh token');
    idp.users.get('erik')!.disabled = true;
    try {
      // Pretend the key is about to expire: the CLI must refresh the sign-in to get another.
      const file = join(configDir(env), 'credentials.json');
      const data = JSON.parse(readFileSync(file, 'utf8'));
      data.gateways[gw.url].expiresAt = new Date(Date.now() + 60_000).toISOString();
      writeFileSync(file, JSON.stringify(data));
      await assert.rejects(freshKey(gw.url, env), (e: Error) => {
        assert.ok(e instanceof SignInError);
        assert.match(e.message, /no longer accepts your sign-in/);
        return true;
      });
    } finally {
      idp.users.get('erik')!.disabled = false;
    }
    // While enabled, the same refresh yields a new key.
    const { saved: again, env: env2 } = await deviceLogin('erik');
    const file = join(configDir(env2), 'credentials.json');
    const data = JSON.parse(readFileSync(file, 'utf8'));
    data.gateways[gw.url].expiresAt = new Date(Date.now() + 60_000).toISOString();
    writeFileSync(file, JSON.stringify(data));
    const renewed = await freshKey(gw.url, env2);
    assert.notEqual(renewed.keyId, again.keyId);
    assert.equal(savedAccessToken(env2), undefined, 'IdP tokens other than the refresh token are not kept');
  });
});

describe('IdP tokens presented directly', () => {
  let accessToken: string;
  let idToken: string;

  before(async () => {
    // The IdP's own tokens, as a client with its own sign-in would hold them.
    const { discover } = await import('../../src/identity/signin.ts');
    const oidc = await import('openid-client');
    idp.browserUser = 'gina';
    const config = await discover({ name: 'acme-sso', issuer: idp.issuer, clientId: CLIENT_ID, scopes: [] });
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid email groups' });
    const browsing = idp.browse(started.verification_uri_complete as string);
    const tokens = await oidc.pollDeviceAuthorizationGrant(config, started);
    await browsing;
    accessToken = tokens.access_token;
    idToken = tokens.id_token as string;
  });

  const call = (token: string) =>
    anthropicCall(gw.url, token, { headers: { 'x-api-key': '', authorization: `Bearer ${token}` } });

  test('a JWT access token for the gateway audience is accepted as the person', async () => {
    const res = await call(accessToken);
    assert.equal(res.status, 200, res.text);
  });

  test('an ID token (audience: the CLI client) is not an access token here', async () => {
    assert.equal((await call(idToken)).status, 401);
  });

  const signed = async (
    claims: Record<string, unknown>,
    key = idp.keys[0].jwk,
    header: Record<string, unknown> = {},
  ) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ sub: 'gina', email: 'gina@acme.example', groups: ['app-developers'], ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, ...header })
      .setIssuedAt(now - 10)
      .setIssuer((claims.iss as string) ?? idp.issuer)
      .setAudience((claims.aud as string) ?? AUDIENCE)
      .setExpirationTime((claims.exp as number) ?? now + 600)
      .sign(await importJWK(key, 'RS256'));
  };

  test('bad tokens are refused: expired, wrong audience, wrong issuer, alg none, re-signed', async () => {
    const control = await signed({});
    assert.equal((await call(control)).status, 200, 'a well-formed token signed by the IdP passes');

    const expired = await call(await signed({ exp: Math.floor(Date.now() / 1000) - 3600 }));
    assert.equal(expired.status, 401);
    assert.match(expired.text, /expired/);
    assert.equal((await call(await signed({ aud: 'https://someone-else.example' }))).status, 401);
    assert.equal((await call(await signed({ iss: 'https://evil.example' }))).status, 401);

    const [h, p] = control.split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
    assert.equal((await call(none)).status, 401, 'alg none');
    const elevated = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(p, 'base64url').toString()),
        groups: ['platform-engineering'],
      }),
    ).toString('base64url');
    assert.equal(
      (await call(`${h}.${elevated}.${control.split('.')[2]}`)).status,
      401,
      'payload edited after signing',
    );

    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const attacker = { ...(await exportJWK(privateKey)), kid: idp.keys[0].jwk.kid, alg: 'RS256' };
    assert.equal(
      (await call(await signed({}, attacker))).status,
      401,
      're-signed with a key the IdP does not publish',
    );
  });

  test('JWKS rotation: tokens signed with a new key verify without a gateway restart', async () => {
    await idp.rotate(await newSigningKey('k2'));
    const rotated = await signed({ sub: 'ivan', email: 'ivan@acme.example' }, idp.keys[0].jwk);
    assert.equal(JSON.parse(Buffer.from(rotated.split('.')[0], 'base64url').toString()).kid, 'k2');
    assert.equal((await call(rotated)).status, 200);
    // Keys signed at sign-in after the rotation work too.
    const { saved } = await deviceLogin('hank');
    assert.equal((await anthropicCall(gw.url, saved.personalKey)).status, 200);
  });
});

describe('IdP down', () => {
  test('existing personal keys keep working; a new sign-in says the IdP cannot be reached', async () => {
    const { saved } = await deviceLogin('hank');
    await idp.stop();
    try {
      assert.equal((await anthropicCall(gw.url, saved.personalKey)).status, 200);
      await assert.rejects(
        login({ gateway: gw.url, flow: 'device', env: tempConfigEnv() }),
        /cannot reach identity provider 'acme-sso'.*Keys you already hold keep working/,
      );
    } finally {
      await idp.start();
    }
  });
});
