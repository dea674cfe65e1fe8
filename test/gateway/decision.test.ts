import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Decision } from '../../src/policy/decision.ts';
import { defaultEvaluate, KEYS } from './fake-snapshot.ts';
import { call, type Stack, startStack } from './harness.ts';

const auth = { authorization: `Bearer ${KEYS.good}` };

describe('the decision', () => {
  let s: Stack;
  let override: ((input: Parameters<typeof defaultEvaluate>[0]) => Decision | undefined) | undefined;
  before(async () => {
    s = await startStack({ fake: { evaluate: (input) => override?.(input) ?? defaultEvaluate(input) } });
  });
  after(() => s.close());

  test('gets the facts of the call: surface, model, stream, tools, sizes, session, user agent', async () => {
    const body = {
      model: 'claude-sonnet-4-5',
      max_tokens: 1234,
      stream: true,
      tools: [{ name: 'Bash', input_schema: {} }],
      messages: [{ role: 'user', content: 'x'.repeat(400) }],
    };
    await call(s.url, '/v1/messages?beta=true', body, {
      'x-api-key': KEYS.good,
      'x-claude-code-session-id': 'sess-123',
      'user-agent': 'claude-cli/2.0.0 (external, cli)',
    });
    const input = s.snapshot.inputs.at(-1)!;
    const bytes = Buffer.byteLength(JSON.stringify(body));
    assert.equal(input.surface, 'anthropic.messages');
    assert.equal(input.provider, 'anthropic');
    assert.equal(input.model, 'claude-sonnet-4-5');
    assert.equal(input.pricedModel, 'claude-sonnet-4-5');
    assert.equal(input.stream, true);
    assert.deepEqual(input.tools, ['Bash']);
    assert.deepEqual(input.sizes, {
      bodyBytes: bytes,
      estimatedInputTokens: Math.ceil(bytes / 4),
      maxOutputTokens: 1234,
    });
    assert.equal(input.session, 'sess-123');
    assert.equal(input.userAgent, 'claude-cli/2.0.0 (external, cli)');
    assert.deepEqual(input.usage, { budgets: [], rateLimits: [] });
    assert.deepEqual(input.guardrails, { findings: [] });
    assert.equal(input.key?.team, 'platform');
    assert.ok(typeof input.nowNs === 'number' && input.nowNs > 1e18);
  });

  test("max output tokens default to the model's limit; Codex's session header is read", async () => {
    await call(
      s.url,
      '/v1/responses',
      { model: 'gpt-5', input: 'hi' },
      { ...auth, session_id: 'codex-conv-1' },
    );
    const input = s.snapshot.inputs.at(-1)!;
    assert.equal(input.surface, 'openai.responses');
    assert.equal(input.sizes.maxOutputTokens, 4096);
    assert.equal(input.session, 'codex-conv-1');
  });

  test('a forbidden model is refused with 403 in each API format, nothing forwarded', async () => {
    const before = s.sim.requests.length;
    const o = await call(
      s.url,
      '/v1/chat/completions',
      { model: 'gpt-5', messages: [] },
      { authorization: `Bearer ${KEYS.limited}` },
    );
    assert.equal(o.status, 403);
    assert.deepEqual(Object.keys(o.json().error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(o.json().error.code, 'model_not_allowed');
    assert.match(
      o.json().error.message,
      /^Portcullis denied this request: Key limited may not use model gpt-5\./,
    );
    const g = await call(
      s.url,
      '/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse',
      {},
      { 'x-goog-api-key': KEYS.limited },
    );
    assert.equal(g.status, 403);
    assert.equal(g.json().error.status, 'PERMISSION_DENIED');
    assert.equal(s.sim.requests.length, before);
  });

  test('an unknown model is a 404 from the policy', async () => {
    const r = await call(
      s.url,
      '/v1/messages',
      { model: 'claude-nonexistent', max_tokens: 5 },
      { 'x-api-key': KEYS.good },
    );
    assert.equal(r.status, 404);
    assert.equal(r.json().error.type, 'not_found_error');
  });

  test('a rate-limit denial carries retry-after', async () => {
    const r = await call(
      s.url,
      '/v1/messages',
      { model: 'rate-limited-model', max_tokens: 5 },
      { 'x-api-key': KEYS.good },
    );
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '7');
    assert.equal(r.json().error.type, 'rate_limit_error');
    assert.match(r.json().error.message, /Retry after 7 s/);
  });

  test('a policy that throws fails closed', async () => {
    override = () => {
      throw new Error('wasm trap');
    };
    try {
      const before = s.sim.requests.length;
      const r = await call(s.url, '/v1/chat/completions', { model: 'gpt-5' }, auth);
      assert.equal(r.status, 500);
      assert.equal(r.json().error.code, 'policy_error');
      assert.equal(s.sim.requests.length, before);
    } finally {
      override = undefined;
    }
  });

  test('tools the policy strips are removed before forwarding', async () => {
    override = () => ({
      allow: true,
      status: 200,
      code: 'ok',
      reasons: [],
      redact: [],
      stripTools: ['WebFetch'],
    });
    try {
      const r = await call(
        s.url,
        '/v1/messages',
        { model: 'claude-sonnet-4-5', max_tokens: 5, tools: [{ name: 'Bash' }, { name: 'WebFetch' }] },
        { 'x-api-key': KEYS.good },
      );
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-portcullis-tools-stripped'), 'WebFetch');
      const body = s.sim.last('/v1/messages')!.body as { tools: { name: string }[] };
      assert.deepEqual(
        body.tools.map((t) => t.name),
        ['Bash'],
      );
    } finally {
      override = undefined;
    }
  });

  test('the policy can route to another provider of the same API', async () => {
    override = () => ({
      allow: true,
      status: 200,
      code: 'ok',
      reasons: [],
      redact: [],
      stripTools: [],
      route: 'google',
    });
    try {
      const wrongApi = await call(s.url, '/v1/chat/completions', { model: 'gpt-5' }, auth);
      assert.equal(wrongApi.status, 500);
      assert.equal(wrongApi.json().error.code, 'bad_route');
    } finally {
      override = undefined;
    }
  });

  test('the body is forwarded byte for byte when nothing changed it', async () => {
    const raw = '{"model":"gpt-5",  "messages":[{"role":"user","content":"spacing   kept"}]}';
    await call(s.url, '/v1/chat/completions', raw, auth);
    const rec = s.sim.last('/v1/chat/completions')!;
    assert.equal(rec.bodyBytes, Buffer.byteLength(raw));
  });

  test('GET /v1/models lists the OpenAI models this key may use', async () => {
    const all = await call(s.url, '/v1/models', undefined, auth, 'GET');
    assert.equal(all.status, 200);
    assert.deepEqual(
      all.json().data.map((m: { id: string }) => m.id),
      ['gpt-5', 'text-embedding-3-small', 'sim-error-500'],
    );
    const one = await call(s.url, '/v1/models/gpt-5', undefined, auth, 'GET');
    assert.equal(one.json().id, 'gpt-5');
    assert.equal((await call(s.url, '/v1/models/nope', undefined, auth, 'GET')).status, 404);
    assert.equal((await call(s.url, '/v1/models', undefined, {}, 'GET')).status, 401);
  });
});
