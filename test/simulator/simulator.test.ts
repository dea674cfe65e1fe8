import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Simulator } from '../../src/simulator/server.ts';

let sim: Simulator;
let url: string;

before(async () => {
  sim = new Simulator({ outputTokens: 6, tokensPerChunk: 2 });
  url = await sim.listen();
});
after(async () => {
  await sim.close();
});

async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = { authorization: 'Bearer sim-key' },
) {
  const res = await fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('simulator', () => {
  test('OpenAI chat: JSON answer with usage, deterministic for the same request', async () => {
    const req = { model: 'gpt-5', messages: [{ role: 'user', content: 'hello' }] };
    const a = JSON.parse((await post('/v1/chat/completions', req)).text);
    const b = JSON.parse((await post('/v1/chat/completions', req)).text);
    assert.equal(a.object, 'chat.completion');
    assert.equal(a.choices[0].message.content.split(' ').length, 6);
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
    assert.equal(a.usage.completion_tokens, 6);
    const other = JSON.parse(
      (await post('/v1/chat/completions', { ...req, messages: [{ role: 'user', content: 'bye' }] })).text,
    );
    assert.notEqual(other.choices[0].message.content, a.choices[0].message.content);
  });

  test('OpenAI chat stream: the usage chunk only when asked for', async () => {
    const plain = await post('/v1/chat/completions', { model: 'gpt-5', stream: true, messages: [] });
    assert.match(plain.headers.get('content-type') ?? '', /text\/event-stream/);
    assert.doesNotMatch(plain.text, /"usage"/);
    assert.match(plain.text, /data: \[DONE\]\n\n$/);
    const withUsage = await post('/v1/chat/completions', {
      model: 'gpt-5',
      stream: true,
      stream_options: { include_usage: true },
      messages: [],
    });
    assert.match(withUsage.text, /"choices":\[\],"usage":\{"prompt_tokens":\d+,"completion_tokens":6/);
  });

  test('max tokens caps the output and reports a length stop', async () => {
    const r = JSON.parse(
      (await post('/v1/messages', { model: 'claude', max_tokens: 2, messages: [] }, { 'x-api-key': 'k' }))
        .text,
    );
    assert.equal(r.stop_reason, 'max_tokens');
    assert.equal(r.usage.output_tokens, 2);
  });

  test('Anthropic stream, Responses stream and Gemini SSE carry usage in their own events', async () => {
    const a = await post(
      '/v1/messages',
      { model: 'claude', max_tokens: 100, stream: true, messages: [] },
      { 'x-api-key': 'k' },
    );
    assert.match(a.text, /^event: message_start\n/);
    assert.match(a.text, /"type":"message_delta".*"usage":\{"output_tokens":6\}/);
    const r = await post('/v1/responses', { model: 'gpt-5', stream: true, input: 'hi' });
    assert.match(r.text, /event: response\.completed\ndata: .*"output_tokens":6/);
    const g = await post(
      '/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse',
      { contents: [] },
      { 'x-goog-api-key': 'k' },
    );
    const chunks = g.text.split('\r\n\r\n').filter(Boolean);
    assert.equal(chunks.length, 3);
    assert.match(chunks[2], /"candidatesTokenCount":6/);
    const arr = await post(
      '/v1beta/models/gemini-2.5-pro:streamGenerateContent',
      { contents: [] },
      { 'x-goog-api-key': 'k' },
    );
    assert.equal(JSON.parse(arr.text).length, 3);
  });

  test('count tokens, embeddings (float and base64) and the model list', async () => {
    assert.ok(
      JSON.parse(
        (await post('/v1/messages/count_tokens', { model: 'c', messages: [] }, { 'x-api-key': 'k' })).text,
      ).input_tokens > 0,
    );
    assert.ok(
      JSON.parse((await post('/v1beta/models/g:countTokens?key=k', { contents: [] }, {})).text).totalTokens >
        0,
    );
    const floats = JSON.parse((await post('/v1/embeddings', { model: 'e', input: ['a', 'b'] })).text);
    assert.equal(floats.data.length, 2);
    assert.equal(floats.data[0].embedding.length, 8);
    const b64 = JSON.parse(
      (await post('/v1/embeddings', { model: 'e', input: 'a', encoding_format: 'base64' })).text,
    );
    assert.equal(Buffer.from(b64.data[0].embedding, 'base64').length, 32);
    const models = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer k' } });
    assert.equal(((await models.json()) as { object: string }).object, 'list');
  });

  test('requires an API key and answers 401 in the API format', async () => {
    const o = await post('/v1/chat/completions', { model: 'x' }, {});
    assert.equal(o.status, 401);
    assert.equal(JSON.parse(o.text).error.type, 'authentication_error');
    const a = await post('/v1/messages', { model: 'x' }, {});
    assert.equal(JSON.parse(a.text).type, 'error');
    const g = await post('/v1beta/models/g:generateContent', {}, {});
    assert.equal(JSON.parse(g.text).error.status, 'UNAUTHENTICATED');
  });

  test('errors on demand: header, model name, with retry-after on 429', async () => {
    const h = await post(
      '/v1/chat/completions',
      { model: 'gpt-5' },
      { authorization: 'Bearer k', 'x-sim-status': '503' },
    );
    assert.equal(h.status, 503);
    const m = await post('/v1/messages', { model: 'sim-error-429', max_tokens: 5 }, { 'x-api-key': 'k' });
    assert.equal(m.status, 429);
    assert.equal(m.headers.get('retry-after'), '1');
    assert.equal(JSON.parse(m.text).error.type, 'rate_limit_error');
    const bad = await post('/v1/chat/completions', '{not json');
    assert.equal(bad.status, 400);
  });

  test('delays the first byte on request', async () => {
    const t0 = performance.now();
    await post(
      '/v1/chat/completions',
      { model: 'gpt-5' },
      { authorization: 'Bearer k', 'x-sim-delay-ms': '60' },
    );
    assert.ok(performance.now() - t0 >= 55);
  });

  test('records requests with credentials only as hashes', async () => {
    await post(
      '/v1beta/models/g:generateContent?key=query-secret',
      {},
      { 'x-goog-api-key': 'header-secret' },
    );
    const rec = sim.last('/v1beta/models/g:generateContent');
    assert.ok(rec);
    assert.match(rec.headers['x-goog-api-key'], /^sha256:[0-9a-f]{64}$/);
    assert.match(rec.query.key, /^sha256:/);
    const listed = await (await fetch(`${url}/__sim/requests`)).text();
    assert.doesNotMatch(listed, /query-secret|header-secret/);
  });

  test('notices a client that goes away mid-stream', async () => {
    const ac = new AbortController();
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer k',
        'content-type': 'application/json',
        'x-sim-chunk-delay-ms': '30',
      },
      body: JSON.stringify({
        model: 'gpt-5',
        stream: true,
        messages: [{ role: 'user', content: 'abort me' }],
      }),
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await new Promise((r) => setTimeout(r, 100));
    const rec = sim.last('/v1/chat/completions');
    assert.equal(rec?.aborted, true);
    assert.equal(rec?.completed, false);
  });
});
