import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KEYS } from './fake-snapshot.ts';
import { call, rawRequest, type Stack, startStack } from './harness.ts';

const auth = { authorization: `Bearer ${KEYS.good}` };
const chat = { model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] };

describe('forwarding', () => {
  let s: Stack;
  before(async () => {
    s = await startStack();
  });
  after(() => s.close());

  test('provider headers pass through; a missing anthropic-version gets the default', async () => {
    await call(
      s.url,
      '/v1/messages',
      { model: 'claude-sonnet-4-5', max_tokens: 5 },
      {
        'x-api-key': KEYS.good,
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'interleaved-thinking-2025-05-14',
      },
    );
    let rec = s.sim.last('/v1/messages')!;
    assert.equal(rec.headers['anthropic-version'], '2023-06-01');
    assert.equal(rec.headers['anthropic-beta'], 'interleaved-thinking-2025-05-14');
    await call(
      s.url,
      '/v1/messages',
      { model: 'claude-sonnet-4-5', max_tokens: 5 },
      { 'x-api-key': KEYS.good },
    );
    rec = s.sim.last('/v1/messages')!;
    assert.equal(rec.headers['anthropic-version'], '2023-06-01');
    await call(
      s.url,
      '/v1/responses',
      { model: 'gpt-5', input: 'x' },
      { ...auth, 'openai-beta': 'responses=v1', 'openai-organization': 'org-1' },
    );
    rec = s.sim.last('/v1/responses')!;
    assert.equal(rec.headers['openai-beta'], 'responses=v1');
    assert.equal(rec.headers['openai-organization'], 'org-1');
  });

  test('hop-by-hop, cookie, proxy and forwarding headers do not pass; the client cannot pick the host', async () => {
    // fetch() and undici rewrite `connection`; a raw socket sends what a hostile client would.
    const body = JSON.stringify(chat);
    const r = await rawRequest(
      s.url,
      [
        'POST /v1/chat/completions HTTP/1.1',
        'host: evil.example',
        `authorization: Bearer ${KEYS.good}`,
        'content-type: application/json',
        'connection: x-hop-secret',
        'x-hop-secret: drop me',
        'cookie: session=abc',
        'proxy-authorization: Basic Zm9vOmJhcg==',
        'x-forwarded-host: evil.example',
        'x-forwarded-for: 10.0.0.1',
        'forwarded: host=evil.example',
        'accept-encoding: gzip',
        'x-custom-client: kept',
      ].join('\r\n'),
      body,
    );
    const status = r.status;
    assert.equal(status, 200);
    const rec = s.sim.last('/v1/chat/completions')!;
    for (const h of [
      'x-hop-secret',
      'cookie',
      'proxy-authorization',
      'x-forwarded-host',
      'x-forwarded-for',
      'forwarded',
      'accept-encoding',
    ]) {
      assert.equal(rec.headers[h], undefined, h);
    }
    assert.equal(rec.headers['x-custom-client'], 'kept');
    assert.equal(rec.headers.host, new URL(s.sim.url).host);
  });

  test('x-request-id: a sane one is kept end to end, anything else is replaced', async () => {
    const kept = await call(s.url, '/v1/chat/completions', chat, { ...auth, 'x-request-id': 'req-abc.123' });
    assert.equal(kept.headers.get('x-request-id'), 'req-abc.123');
    assert.equal(s.sim.last('/v1/chat/completions')!.headers['x-request-id'], 'req-abc.123');
    const replaced = await call(s.url, '/v1/chat/completions', chat, {
      ...auth,
      'x-request-id': 'bad id with spaces',
    });
    assert.match(replaced.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const notFound = await call(s.url, '/nope', {}, {});
    assert.ok(notFound.headers.get('x-request-id'));
  });

  test('per-API prefixes serve the same surfaces', async () => {
    assert.equal((await call(s.url, '/openai/v1/chat/completions', chat, auth)).status, 200);
    assert.equal(
      (
        await call(
          s.url,
          '/anthropic/v1/messages',
          { model: 'claude-sonnet-4-5', max_tokens: 5 },
          { 'x-api-key': KEYS.good },
        )
      ).status,
      200,
    );
    assert.equal(
      (
        await call(
          s.url,
          '/gemini/v1beta/models/gemini-2.5-pro:countTokens',
          { contents: [] },
          { 'x-goog-api-key': KEYS.good },
        )
      ).status,
      200,
    );
    assert.equal(s.sim.last()!.path, '/v1beta/models/gemini-2.5-pro:countTokens');
  });

  test('Anthropic ?beta=true and Gemini ?alt=sse reach upstream', async () => {
    await call(
      s.url,
      '/v1/messages?beta=true',
      { model: 'claude-sonnet-4-5', max_tokens: 5 },
      { 'x-api-key': KEYS.good },
    );
    assert.deepEqual(s.sim.last('/v1/messages')!.query, { beta: 'true' });
    const g = await call(
      s.url,
      '/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse',
      { contents: [] },
      { 'x-goog-api-key': KEYS.good },
    );
    assert.match(g.headers.get('content-type') ?? '', /text\/event-stream/);
    assert.deepEqual(s.sim.last()!.query, { alt: 'sse' });
  });

  test('upstream errors pass through unchanged', async () => {
    const direct = await fetch(`${s.sim.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer x', 'x-sim-status': '503' },
      body: JSON.stringify(chat),
    });
    const directBody = await direct.text();
    const r = await call(s.url, '/v1/chat/completions', chat, { ...auth, 'x-sim-status': '503' });
    assert.equal(r.status, 503);
    assert.equal(r.text, directBody);
    const limited = await call(
      s.url,
      '/v1/messages',
      { model: 'claude-sonnet-4-5', max_tokens: 5 },
      { 'x-api-key': KEYS.good, 'x-sim-status': '429' },
    );
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '1');
    assert.equal(limited.json().error.type, 'rate_limit_error');
    const bad = await call(
      s.url,
      '/v1/chat/completions',
      { model: 'gpt-5' },
      { ...auth, 'x-sim-status': '400' },
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error.code, 'sim_400');
  });

  test('a stream reaches the client event by event, before upstream has finished', async () => {
    const res = await fetch(`${s.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': KEYS.good, 'content-type': 'application/json', 'x-sim-chunk-delay-ms': '100' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 100, stream: true, messages: [] }),
    });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /^event: message_start/);
    assert.equal(s.sim.last('/v1/messages')!.completed, false, 'upstream still streaming');
    while (!(await reader.read()).done);
    assert.equal(s.sim.last('/v1/messages')!.completed, true);
  });

  test('a chat stream shows the client exactly what it asked for', async () => {
    const plain = await call(s.url, '/v1/chat/completions', { ...chat, stream: true }, auth);
    assert.doesNotMatch(plain.text, /"choices":\[\],"usage"/);
    assert.match(plain.text, /data: \[DONE\]\n\n$/);
    assert.deepEqual(
      (s.sim.last('/v1/chat/completions')!.body as { stream_options: unknown }).stream_options,
      { include_usage: true },
    );
    const asked = await call(
      s.url,
      '/v1/chat/completions',
      { ...chat, stream: true, stream_options: { include_usage: true } },
      auth,
    );
    assert.match(asked.text, /"choices":\[\],"usage":\{/);
  });
});
