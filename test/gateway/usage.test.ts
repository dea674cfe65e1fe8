import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { UsageEvent } from '../../src/gateway/usage.ts';
import { KEYS } from './fake-snapshot.ts';
import { call, type Stack, startStack } from './harness.ts';

const auth = { authorization: `Bearer ${KEYS.good}` };

describe('usage events', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({ sim: { outputTokens: 10, tokensPerChunk: 3 } });
  });
  after(() => s.close());

  async function usageOf(path: string, body: unknown, headers: Record<string, string>): Promise<UsageEvent> {
    const ev = s.nextEvent();
    const r = await call(s.url, path, body, headers);
    assert.equal(r.status, 200, r.text);
    return ev;
  }

  const cases: [string, string, unknown, Record<string, string>][] = [
    ['OpenAI chat', '/v1/chat/completions', { model: 'gpt-5', messages: [] }, auth],
    ['OpenAI chat stream', '/v1/chat/completions', { model: 'gpt-5', stream: true, messages: [] }, auth],
    ['OpenAI responses', '/v1/responses', { model: 'gpt-5', input: 'x' }, auth],
    ['OpenAI responses stream', '/v1/responses', { model: 'gpt-5', stream: true, input: 'x' }, auth],
    [
      'Anthropic messages',
      '/v1/messages',
      { model: 'claude-sonnet-4-5', max_tokens: 50, messages: [] },
      { 'x-api-key': KEYS.good },
    ],
    [
      'Anthropic stream',
      '/v1/messages',
      { model: 'claude-sonnet-4-5', max_tokens: 50, stream: true },
      { 'x-api-key': KEYS.good },
    ],
    [
      'Gemini generate',
      '/v1beta/models/gemini-2.5-pro:generateContent',
      { contents: [] },
      { 'x-goog-api-key': KEYS.good },
    ],
    [
      'Gemini SSE',
      '/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse',
      { contents: [] },
      { 'x-goog-api-key': KEYS.good },
    ],
    [
      'Gemini JSON stream',
      '/v1beta/models/gemini-2.5-pro:streamGenerateContent',
      { contents: [] },
      { 'x-goog-api-key': KEYS.good },
    ],
  ];
  for (const [name, path, body, headers] of cases) {
    test(`${name}: tokens as the simulator reported them, priced`, async () => {
      const ev = await usageOf(path, body, { ...headers, 'x-sim-cached-tokens': '4' });
      const bytes = s.sim.last()!.bodyBytes;
      const input = Math.max(1, Math.ceil(bytes / 4));
      assert.equal(ev.inputTokens + ev.cachedInputTokens, input);
      assert.equal(ev.cachedInputTokens, 4);
      assert.equal(ev.outputTokens, 10);
      assert.equal(ev.estimated, false);
      assert.equal(ev.aborted, false);
      assert.equal(ev.keyId, 'good');
      assert.equal(ev.status, 200);
      assert.ok(ev.costUsd > 0);
      assert.ok(ev.latency.totalMs >= ev.latency.upstreamMs);
    });
  }

  test('cost uses the model price: input, cached and output', async () => {
    const ev = await usageOf(
      '/v1/messages',
      { model: 'claude-sonnet-4-5', max_tokens: 50 },
      { 'x-api-key': KEYS.good, 'x-sim-cached-tokens': '3' },
    );
    const expected = (ev.inputTokens * 3 + ev.cachedInputTokens * 0.3 + ev.outputTokens * 15) / 1e6;
    assert.ok(Math.abs(ev.costUsd - expected) < 1e-12);
    assert.equal(ev.pricedModel, 'claude-sonnet-4-5');
    assert.equal(ev.provider, 'anthropic');
    assert.equal(ev.revision, s.snapshot.revision);
  });

  test('embeddings count input only; count_tokens counts nothing', async () => {
    const emb = await usageOf('/v1/embeddings', { model: 'text-embedding-3-small', input: ['a', 'b'] }, auth);
    assert.ok(emb.inputTokens > 0);
    assert.equal(emb.outputTokens, 0);
    const count = await usageOf(
      '/v1/messages/count_tokens',
      { model: 'claude-sonnet-4-5', messages: [] },
      { 'x-api-key': KEYS.good },
    );
    assert.equal(count.inputTokens + count.outputTokens, 0);
    assert.equal(count.surface, 'anthropic.count_tokens');
  });

  test('a long non-streamed answer is counted from the end of its body', async () => {
    const ev = await usageOf(
      '/v1/messages',
      { model: 'claude-sonnet-4-5', max_tokens: 20000 },
      {
        'x-api-key': KEYS.good,
        'x-sim-output-tokens': '12000',
      },
    );
    assert.equal(ev.outputTokens, 12000);
  });

  test('an upstream error is published with no tokens', async () => {
    const ev = s.nextEvent();
    await call(s.url, '/v1/chat/completions', { model: 'gpt-5' }, { ...auth, 'x-sim-status': '500' });
    const e = await ev;
    assert.equal(e.status, 500);
    assert.equal(e.inputTokens + e.outputTokens, 0);
  });

  test('denied calls publish no usage', async () => {
    const before = s.events.length;
    await call(
      s.url,
      '/v1/chat/completions',
      { model: 'gpt-5' },
      { authorization: `Bearer ${KEYS.limited}` },
    );
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.events.length, before);
  });

  test('a plugin whose audit throws does not break the call or the plugins after it', async () => {
    const broken = await startStack({
      plugins: [
        {
          name: 'broken',
          audit() {
            throw new Error('plugin bug');
          },
        },
      ],
    });
    try {
      const ev = broken.nextEvent();
      const r = await call(broken.url, '/v1/chat/completions', { model: 'gpt-5' }, auth);
      assert.equal(r.status, 200);
      assert.equal((await ev).status, 200);
      assert.ok(broken.logs.some((l) => l.includes('plugin bug')));
    } finally {
      await broken.close();
    }
  });
});
