import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { KEYS } from './fake-snapshot.ts';
import { call, rawRequest, type Stack, startStack } from './harness.ts';

const auth = { authorization: `Bearer ${KEYS.good}` };
const chat = { model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] };

/** A port with nothing listening. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('bad input', () => {
  let s: Stack;
  before(async () => {
    s = await startStack();
  });
  after(() => s.close());

  test('malformed JSON is a 400 in the surface format', async () => {
    const o = await call(s.url, '/v1/chat/completions', '{"model": "gpt-5",', auth);
    assert.equal(o.status, 400);
    assert.equal(o.json().error.type, 'invalid_request_error');
    const a = await call(s.url, '/v1/messages', '[1,2]', { 'x-api-key': KEYS.good });
    assert.equal(a.status, 400);
    assert.equal(a.json().error.type, 'invalid_request_error');
    const g = await call(s.url, '/v1beta/models/gemini-2.5-pro:generateContent', 'nope', {
      'x-goog-api-key': KEYS.good,
    });
    assert.equal(g.status, 400);
    assert.equal(g.json().error.status, 'INVALID_ARGUMENT');
    // Without a valid key the answer is 401, not a hint about the body.
    assert.equal((await call(s.url, '/v1/chat/completions', '{', {})).status, 401);
    assert.equal(s.sim.requests.length, 0);
  });

  test('a body over maxRequestBytes is a 413, declared or streamed', async () => {
    const big = JSON.stringify({
      model: 'gpt-5',
      messages: [{ role: 'user', content: 'x'.repeat(1024 * 1024) }],
    });
    const declared = await call(s.url, '/v1/chat/completions', big, auth);
    assert.equal(declared.status, 413);
    assert.equal(declared.json().error.code, 'request_too_large');
    const a = await call(s.url, '/v1/messages', big, { 'x-api-key': KEYS.good });
    assert.equal(a.json().error.type, 'request_too_large');
    // Chunked, no content-length: counted as it arrives.
    const chunks = [Buffer.from(big.slice(0, 600_000)), Buffer.from(big.slice(600_000))];
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: new ReadableStream({
        pull(c) {
          const next = chunks.shift();
          if (next) c.enqueue(next);
          else c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 413);
    await res.text();
    assert.equal(s.sim.requests.length, 0);
  });

  test('unknown routes and dot-dot paths are 404s; nothing reaches upstream', async () => {
    const o = await call(s.url, '/v1/files', {}, auth);
    assert.equal(o.status, 404);
    assert.equal(o.json().error.type, 'not_found_error');
    const dots = await rawRequest(
      s.url,
      `POST /v1/../v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${KEYS.good}`,
      '{}',
    );
    assert.equal(dots.status, 404);
    const encoded = await call(s.url, '/v1/chat/completions/..%2f..%2fadmin', chat, auth);
    assert.equal(encoded.status, 404);
    const g = await call(
      s.url,
      '/v1beta/models/gemini-2.5-pro:deleteEverything',
      {},
      { 'x-goog-api-key': KEYS.good },
    );
    assert.equal(g.status, 404);
    assert.equal(g.json().error.status, 'NOT_FOUND');
    const traversal = await call(
      s.url,
      '/v1beta/models/..%2F..%2Fadmin:generateContent',
      {},
      { 'x-goog-api-key': KEYS.good },
    );
    assert.equal(traversal.status, 404);
    assert.equal(s.sim.requests.length, 0);
  });

  test('CR or LF inside a header is refused before any handling', async () => {
    const r = await rawRequest(
      s.url,
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${KEYS.good}\r\nanthropic-beta: a\rinjected: yes`,
      JSON.stringify(chat),
    );
    assert.equal(r.status, 400);
    assert.equal(s.sim.requests.length, 0);
  });

  test('an absolute-form request URL does not choose the upstream', async () => {
    const r = await rawRequest(
      s.url,
      `POST http://evil.example:9/v1/chat/completions HTTP/1.1\r\nhost: evil.example:9\r\nx-forwarded-host: evil.example\r\nauthorization: Bearer ${KEYS.good}\r\ncontent-type: application/json`,
      JSON.stringify(chat),
    );
    // Whether the gateway serves it or not, only the configured upstream may ever see it.
    // fastify routes on the path; the host in the URL is ignored and only the configured upstream is called.
    assert.equal(r.status, 200);
    assert.equal(s.sim.requests.length, 1);
    for (const rec of s.sim.requests) assert.equal(rec.headers.host, new URL(s.sim.url).host);
  });
});

describe('upstream faults', () => {
  test('unreachable upstream is a 502 in the surface format', async () => {
    const s = await startStack({ fake: { upstream: `http://127.0.0.1:${await closedPort()}` } });
    try {
      const o = await call(s.url, '/v1/chat/completions', chat, auth);
      assert.equal(o.status, 502);
      assert.equal(o.json().error.code, 'upstream_unreachable');
      const a = await call(
        s.url,
        '/v1/messages',
        { model: 'claude-sonnet-4-5', max_tokens: 5 },
        { 'x-api-key': KEYS.good },
      );
      assert.equal(a.status, 502);
      assert.equal(a.json().type, 'error');
      const ev = s.events.at(-1)!;
      assert.equal(ev.status, 502);
      assert.equal(ev.outputTokens, 0);
    } finally {
      await s.close();
    }
  });

  test('an upstream slower than the provider timeout is a 504', async () => {
    const s = await startStack({ fake: { timeoutMs: 150 } });
    try {
      const g = await call(
        s.url,
        '/v1beta/models/gemini-2.5-pro:generateContent',
        {},
        { 'x-goog-api-key': KEYS.good, 'x-sim-delay-ms': '2000' },
      );
      assert.equal(g.status, 504);
      assert.equal(g.json().error.status, 'DEADLINE_EXCEEDED');
    } finally {
      await s.close();
    }
  });

  test('a missing provider credential is a clear 502 that names the variable, not a secret', async () => {
    const s = await startStack();
    const saved = process.env.FAKE_ANTHROPIC_KEY;
    delete process.env.FAKE_ANTHROPIC_KEY;
    try {
      const r = await call(
        s.url,
        '/v1/messages',
        { model: 'claude-sonnet-4-5', max_tokens: 5 },
        { 'x-api-key': KEYS.good },
      );
      assert.equal(r.status, 502);
      assert.match(r.json().error.message, /FAKE_ANTHROPIC_KEY is not set/);
      assert.equal(s.sim.requests.length, 0);
    } finally {
      process.env.FAKE_ANTHROPIC_KEY = saved;
      await s.close();
    }
  });
});

describe('streams cut short', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({ sim: { outputTokens: 40, tokensPerChunk: 2 } });
  });
  after(() => s.close());

  test('a client that disconnects mid-stream aborts the upstream request; usage counts what was seen', async () => {
    const ac = new AbortController();
    const event = s.nextEvent();
    const res = await fetch(`${s.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': KEYS.good, 'content-type': 'application/json', 'x-sim-chunk-delay-ms': '40' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 100, stream: true, messages: [] }),
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    let seen = '';
    while (!seen.includes('content_block_delta'))
      seen += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    const ev = await event;
    assert.equal(ev.aborted, true);
    assert.ok(ev.inputTokens > 0, 'input tokens from message_start');
    assert.ok(ev.outputTokens < 40, 'fewer tokens than a full answer');
    assert.equal(ev.estimated, true);
    for (let i = 0; i < 20 && !s.sim.last('/v1/messages')!.aborted; i++)
      await new Promise((r) => setTimeout(r, 25));
    assert.equal(s.sim.last('/v1/messages')!.aborted, true, 'the simulator saw the upstream request aborted');
  });

  test('an upstream that dies mid-stream ends the client stream with the surface error event; usage is still published', async () => {
    const event = s.nextEvent();
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        ...auth,
        'content-type': 'application/json',
        'x-sim-fail-after': '4',
        'x-sim-chunk-delay-ms': '10',
      },
      body: JSON.stringify({ ...chat, stream: true }),
    });
    assert.equal(res.status, 200);
    // Not a cut connection: the stream ends with the error event the OpenAI SDK raises.
    const text = await res.text();
    assert.match(text, /data: \{"error":\{"message":"Portcullis: provider openai could not be reached/);
    const ev = await event;
    assert.ok(ev.outputTokens > 0);
  });
});
