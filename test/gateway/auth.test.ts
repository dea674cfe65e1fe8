import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { KEYS, UPSTREAM_SECRETS } from './fake-snapshot.ts';
import { call, type Stack, startStack } from './harness.ts';

const chat = { model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] };
const hex = (s: string) => hash('sha256', s, 'hex');
const sha = (s: string) => `sha256:${hex(s)}`;

describe('authentication', () => {
  let s: Stack;
  before(async () => {
    s = await startStack();
  });
  after(() => s.close());

  test('a valid key in each place the SDKs put it is accepted', async () => {
    const r1 = await call(s.url, '/v1/chat/completions', chat, { authorization: `Bearer ${KEYS.good}` });
    assert.equal(r1.status, 200);
    const r2 = await call(
      s.url,
      '/v1/messages',
      { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [] },
      { 'x-api-key': KEYS.good },
    );
    assert.equal(r2.status, 200);
    const r3 = await call(
      s.url,
      '/v1beta/models/gemini-2.5-pro:generateContent',
      { contents: [] },
      { 'x-goog-api-key': KEYS.good },
    );
    assert.equal(r3.status, 200);
    const r4 = await call(
      s.url,
      `/v1beta/models/gemini-2.5-pro:generateContent?key=${KEYS.good}`,
      { contents: [] },
      {},
    );
    assert.equal(r4.status, 200);
  });

  test('missing, unknown, disabled and expired keys get 401 in the API format', async () => {
    const missing = await call(s.url, '/v1/chat/completions', chat, {});
    assert.equal(missing.status, 401);
    assert.equal(missing.json().error.code, 'key_missing');
    const unknown = await call(
      s.url,
      '/v1/messages',
      { model: 'claude-sonnet-4-5', max_tokens: 5 },
      { 'x-api-key': 'pcl_nope' },
    );
    assert.equal(unknown.status, 401);
    assert.equal(unknown.json().type, 'error');
    assert.equal(unknown.json().error.type, 'authentication_error');
    const disabled = await call(
      s.url,
      '/v1beta/models/gemini-2.5-pro:generateContent',
      {},
      { 'x-goog-api-key': KEYS.disabled },
    );
    assert.equal(disabled.status, 401);
    assert.equal(disabled.json().error.status, 'UNAUTHENTICATED');
    const expired = await call(s.url, '/v1/chat/completions', chat, {
      authorization: `Bearer ${KEYS.expired}`,
    });
    assert.equal(expired.status, 401);
    assert.match(expired.json().error.message, /expired/);
    assert.equal(s.sim.requests.filter((r) => r.path === '/v1/chat/completions').length, 1);
  });

  test('the policy sees the auth status and the key facts, never the hash', async () => {
    s.snapshot.inputs.length = 0;
    await call(s.url, '/v1/chat/completions', chat, { authorization: `Bearer ${KEYS.disabled}` });
    const input = s.snapshot.inputs.at(-1)!;
    assert.deepEqual(input.auth, { status: 'disabled', enforced: true });
    assert.equal(input.key?.id, 'disabled');
    assert.doesNotMatch(JSON.stringify(input), new RegExp(hex(KEYS.disabled)));
  });

  test("the client's key never goes upstream; the provider's credential does", async () => {
    await call(s.url, '/v1/chat/completions', chat, { authorization: `Bearer ${KEYS.good}` });
    const openai = s.sim.last('/v1/chat/completions')!;
    assert.equal(openai.headers.authorization, sha(`Bearer ${UPSTREAM_SECRETS.openai}`));
    await call(
      s.url,
      '/v1/messages',
      { model: 'claude-sonnet-4-5', max_tokens: 5 },
      { 'x-api-key': KEYS.good, authorization: `Bearer ${KEYS.good}` },
    );
    const anthropic = s.sim.last('/v1/messages')!;
    assert.equal(anthropic.headers['x-api-key'], sha(UPSTREAM_SECRETS.anthropic));
    assert.equal(anthropic.headers.authorization, undefined);
    await call(s.url, `/v1beta/models/gemini-2.5-pro:generateContent?key=${KEYS.good}&alt=json`, {}, {});
    const gemini = s.sim.last('/v1beta/models/gemini-2.5-pro:generateContent')!;
    assert.equal(gemini.headers['x-goog-api-key'], sha(UPSTREAM_SECRETS.google));
    assert.deepEqual(gemini.query, { alt: 'json' });
    const all = JSON.stringify(s.sim.requests);
    for (const k of Object.values(KEYS))
      assert.ok(!all.includes(hex(k)), 'a virtual key hash reached upstream');
  });

  test('keys never appear in the logs', async () => {
    await call(s.url, `/v1beta/models/gemini-2.5-pro:generateContent?key=${KEYS.good}`, '{bad json', {});
    await call(s.url, `/nowhere?key=${KEYS.good}`, {}, { authorization: `Bearer ${KEYS.good}` });
    await call(s.url, '/v1/chat/completions', chat, { authorization: `Bearer ${KEYS.good}` });
    const logs = s.logs.join('');
    assert.ok(logs.length > 0);
    for (const k of [...Object.values(KEYS), ...Object.values(UPSTREAM_SECRETS)])
      assert.ok(!logs.includes(k), 'secret in logs');
  });
});

describe('authentication not enforced', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({ fake: { gateway: { enforceAuthOnInference: false } } });
  });
  after(() => s.close());

  test('a call without a key is decided by the policy; a bad key is still refused', async () => {
    const ok = await call(s.url, '/v1/chat/completions', chat, {});
    assert.equal(ok.status, 200);
    assert.deepEqual(s.snapshot.inputs.at(-1)!.auth, { status: 'missing', enforced: false });
    const bad = await call(s.url, '/v1/chat/completions', chat, { authorization: 'Bearer pcl_wrong' });
    assert.equal(bad.status, 401);
  });
});

describe('a policy that allows everything', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({
      fake: {
        evaluate: () => ({ allow: true, status: 200, code: 'ok', reasons: [], redact: [], stripTools: [] }),
      },
    });
  });
  after(() => s.close());

  test('still cannot let a bad key through', async () => {
    for (const key of ['pcl_wrong', KEYS.disabled, KEYS.expired]) {
      const r = await call(s.url, '/v1/chat/completions', chat, { authorization: `Bearer ${key}` });
      assert.equal(r.status, 401, key);
    }
    assert.equal((await call(s.url, '/v1/chat/completions', chat, {})).status, 401);
    assert.equal(s.sim.requests.length, 0);
  });
});
