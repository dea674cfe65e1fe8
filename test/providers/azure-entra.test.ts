// Azure OpenAI with Microsoft Entra ID tokens: the gateway's Azure client gets a token from the token
// service with @azure/identity's ClientSecretCredential (MSAL underneath, the client secret read by
// reference) and calls the deployment with it; the simulator, as Azure OpenAI, verifies the token's
// signature, audience, issuer and expiry against the token service's keys.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { generateVirtualKey, hashVirtualKey } from '../../src/cli/keys.ts';
import { createGateway, type Gateway } from '../../src/gateway/server.ts';
import { SnapshotHolder } from '../../src/gateway/snapshot-holder.ts';
import { buildSnapshot } from '../../src/policy/build-snapshot.ts';
import { Simulator } from '../../src/simulator/server.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';
import { startTokenService, TENANT, type TokenService } from './entra-server.ts';

const KEY = generateVirtualKey();
const APP = { id: '3a9f1c2b-portcullis-gateway', secret: 'entra-client-secret-value' };

function policy(simUrl: string, authorityHost: string): string {
  const provider = (name: string, secretEnv: string) => `apiVersion: portcullis.dev/v1
kind: Provider
metadata: { name: ${name} }
spec:
  api: openai
  baseUrl: ${simUrl}
  cloud:
    azure:
      apiVersion: '2024-10-21'
      deployments: { gpt-5-nano: nano-deploy }
      tenantId: ${TENANT}
      clientId: ${APP.id}
      clientSecret: { fromEnv: ${secretEnv} }
      authorityHost: ${authorityHost}
  models:
    - { id: gpt-5-nano, inputPerMTok: 0.05, outputPerMTok: 0.4, maxOutputTokens: 128000 }
---
`;
  return `apiVersion: portcullis.dev/v1
kind: VirtualKey
metadata: { name: entra-tester }
spec:
  owner: entra@acme.example
  team: platform
  keyHash: sha256:${hashVirtualKey(KEY)}
  models: [gpt-5-nano]
---
${provider('azure-entra', 'TEST_ENTRA_SECRET')}${provider('azure-entra-bad', 'TEST_ENTRA_WRONG_SECRET')}apiVersion: portcullis.dev/v1
kind: Route
metadata: { name: azure-entra }
spec:
  priority: 1
  match: { models: [azure-nano], keys: [entra-tester] }
  targets: [{ provider: azure-entra, model: gpt-5-nano }]
---
apiVersion: portcullis.dev/v1
kind: Route
metadata: { name: azure-entra-bad }
spec:
  priority: 1
  match: { models: [azure-nano-bad], keys: [entra-tester] }
  targets: [{ provider: azure-entra-bad, model: gpt-5-nano }]
`;
}

describe('Azure OpenAI with Microsoft Entra ID tokens', () => {
  let dir: string;
  let entra: TokenService;
  let sim: Simulator;
  let gw: Gateway;
  let client: OpenAI;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-entra-'));
    entra = await startTokenService(dir, APP);
    sim = new Simulator({
      outputTokens: 5,
      clouds: {
        azure: {
          apiKeys: [],
          entra: { jwks: entra.jwks, issuer: entra.issuer },
          deployments: { 'nano-deploy': 'gpt-5-nano' },
          apiVersions: ['2024-10-21'],
        },
      },
    });
    const simUrl = await sim.listen();
    process.env.TEST_ENTRA_SECRET = APP.secret;
    process.env.TEST_ENTRA_WRONG_SECRET = 'not-the-secret';
    const policyDir = examplePolicyCopy().dir;
    writeFileSync(join(policyDir, 'providers', 'test-entra.yaml'), policy(simUrl, entra.authorityHost));
    const snapshot = await buildSnapshot({ dir: policyDir });
    gw = createGateway({ holder: new SnapshotHolder(snapshot), logLevel: 'error' });
    client = new OpenAI({ apiKey: KEY, baseURL: `${await gw.listen(0)}/v1`, maxRetries: 0 });
  });

  after(async () => {
    await gw?.close();
    await sim?.close();
    await entra?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a call reaches the deployment with a bearer token from Entra ID, fetched once and reused', async () => {
    for (let i = 0; i < 2; i++) {
      const answer = await client.chat.completions.create({
        model: 'azure-nano',
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.equal(answer.usage?.completion_tokens, 5);
    }
    const sent = sim.last()!;
    assert.equal(sent.path, '/openai/deployments/nano-deploy/chat/completions');
    assert.equal(sent.query['api-version'], '2024-10-21');
    // The simulator keeps credentials only as hashes; it takes no api-key here, and answered only
    // after verifying the bearer token against the token service's keys.
    assert.match(String(sent.headers.authorization), /^sha256:/);
    assert.equal(sent.headers['api-key'], undefined);
    assert.equal(entra.tokenRequests, 1, 'the token is cached until it nears its expiry');
  });

  test('a client secret Entra ID refuses is a clear 502 in the caller’s format, without the secret', async () => {
    const before = entra.tokenRequests;
    await assert.rejects(
      client.chat.completions.create({
        model: 'azure-nano-bad',
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (err: InstanceType<typeof OpenAI.APIError>) => {
        assert.equal(err.status, 502);
        assert.match(
          err.message,
          /Microsoft Entra ID gave no token \(invalid_client: client authentication failed\)/,
        );
        assert.doesNotMatch(err.message, /not-the-secret|entra-client-secret-value/);
        return true;
      },
    );
    assert.ok(entra.tokenRequests > before, 'Entra ID was asked');
  });

  test('Azure OpenAI (the simulator) refuses a bearer token the token service did not sign', async () => {
    const forged = `${Buffer.from('{"alg":"RS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({ aud: 'https://cognitiveservices.azure.com', iss: entra.issuer, exp: 4102444800 }),
    ).toString('base64url')}.c2lnbmF0dXJl`;
    const res = await fetch(
      `${sim.url}/openai/deployments/nano-deploy/chat/completions?api-version=2024-10-21`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${forged}` },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
      },
    );
    assert.equal(res.status, 401);
    assert.match(await res.text(), /Access token is missing, invalid/);
  });
});
