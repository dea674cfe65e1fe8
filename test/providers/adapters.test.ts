import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Surface } from '../../src/policy/decision.ts';
import type { ResolvedProvider } from '../../src/policy/snapshot.ts';
import { anthropicAdapter, anthropicInputPriceFactor } from '../../src/providers/anthropic.ts';
import { geminiAdapter } from '../../src/providers/gemini.ts';
import { openaiAdapter } from '../../src/providers/openai.ts';
import { costUsd, priceFor } from '../../src/providers/pricing.ts';
import type { ProviderAdapter, TokenUsage } from '../../src/providers/types.ts';

const sse = (events: unknown[], named = false) =>
  events
    .map((e) => {
      const type = (e as { type?: string }).type;
      return `${named && type ? `event: ${type}\n` : ''}data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`;
    })
    .join('');

/** Feed a stream in small chunks; return what the client would see and the tracker. */
function run(
  adapter: ProviderAdapter,
  surface: Surface,
  text: string,
  hideUsageChunk = false,
  cut = text.length,
) {
  const tracker = adapter.streamTracker(surface, { hideUsageChunk });
  const bytes = Buffer.from(text.slice(0, cut));
  let client = '';
  for (let i = 0; i < bytes.length; i += 7) {
    const out = tracker.push(bytes.subarray(i, i + 7));
    if (out !== null) client += out.toString();
  }
  if (cut === text.length) {
    const out = tracker.end();
    if (out !== null) client += out.toString();
  }
  return { client, usage: tracker.usage(), estimated: tracker.estimated() };
}

const usage = (
  inputTokens: number,
  cachedInputTokens: number,
  cacheWriteTokens: number,
  outputTokens: number,
  cacheWriteLongTokens = 0,
): TokenUsage => ({
  inputTokens,
  cachedInputTokens,
  cacheWriteTokens,
  cacheWriteLongTokens,
  outputTokens,
});

describe('OpenAI adapter', () => {
  const chunk = (content: string | null, extra: Record<string, unknown> = {}) => ({
    id: 'c1',
    object: 'chat.completion.chunk',
    choices: content === null ? [] : [{ index: 0, delta: { content }, finish_reason: null }],
    ...extra,
  });

  test('chat completion usage, cached tokens split out of the prompt', () => {
    const body = {
      usage: { prompt_tokens: 1000, completion_tokens: 50, prompt_tokens_details: { cached_tokens: 800 } },
    };
    assert.deepEqual(openaiAdapter.usageFromJson('openai.chat', body), usage(200, 800, 0, 50));
  });

  test('responses and embeddings usage', () => {
    const resp = {
      usage: { input_tokens: 300, output_tokens: 20, input_tokens_details: { cached_tokens: 100 } },
    };
    assert.deepEqual(openaiAdapter.usageFromJson('openai.responses', resp), usage(200, 100, 0, 20));
    const emb = { usage: { prompt_tokens: 12, total_tokens: 12 } };
    assert.deepEqual(openaiAdapter.usageFromJson('openai.embeddings', emb), usage(12, 0, 0, 0));
    assert.equal(openaiAdapter.usageFromJson('openai.chat', { choices: [] }), null);
  });

  test('chat stream: the usage chunk the gateway asked for is counted and hidden, nothing else changes', () => {
    const withUsage = [
      chunk('Hel', { usage: null }),
      chunk('lo', { usage: null }),
      chunk(null, { usage: { prompt_tokens: 9, completion_tokens: 2 } }),
      '[DONE]',
    ];
    const text = sse(withUsage);
    const hidden = run(openaiAdapter, 'openai.chat', text, true);
    assert.deepEqual(hidden.usage, usage(9, 0, 0, 2));
    assert.equal(hidden.estimated, false);
    assert.equal(hidden.client, sse([withUsage[0], withUsage[1], '[DONE]']));
    // A client that asked for usage itself sees every byte.
    const shown = run(openaiAdapter, 'openai.chat', text, false);
    assert.equal(shown.client, text);
    assert.deepEqual(shown.usage, usage(9, 0, 0, 2));
  });

  test('chat stream cut short: output estimated from the text seen', () => {
    const text = sse([
      chunk('x'.repeat(40)),
      chunk('y'.repeat(40)),
      chunk(null, { usage: { prompt_tokens: 9, completion_tokens: 99 } }),
    ]);
    const cut = text.indexOf('data:', text.indexOf('yyy'));
    const r = run(openaiAdapter, 'openai.chat', text, false, cut);
    assert.equal(r.estimated, true);
    assert.equal(r.usage.outputTokens, 20);
  });

  test('responses stream: usage from response.completed', () => {
    const text = sse(
      [
        { type: 'response.created', response: { usage: null } },
        { type: 'response.output_text.delta', delta: 'Hi there' },
        {
          type: 'response.completed',
          response: {
            usage: { input_tokens: 50, output_tokens: 3, input_tokens_details: { cached_tokens: 10 } },
          },
        },
      ],
      true,
    );
    const r = run(openaiAdapter, 'openai.responses', text);
    assert.equal(r.client, text);
    assert.deepEqual(r.usage, usage(40, 10, 0, 3));
    assert.equal(r.estimated, false);
  });

  test('asks for usage on chat streams only when the client did not', () => {
    const body: Record<string, unknown> = {
      model: 'gpt-5',
      stream: true,
      stream_options: { include_obfuscation: false },
    };
    assert.equal(openaiAdapter.requestUsageReporting('openai.chat', body), true);
    assert.deepEqual(body.stream_options, { include_obfuscation: false, include_usage: true });
    assert.equal(openaiAdapter.requestUsageReporting('openai.chat', body), false);
    assert.equal(openaiAdapter.requestUsageReporting('openai.chat', { stream: false }), false);
    assert.equal(openaiAdapter.requestUsageReporting('openai.responses', { stream: true }), false);
  });
});

describe('Anthropic adapter', () => {
  test('message usage with cache reads and writes', () => {
    const body = {
      usage: {
        input_tokens: 20,
        cache_read_input_tokens: 1000,
        cache_creation_input_tokens: 300,
        output_tokens: 70,
      },
    };
    assert.deepEqual(anthropicAdapter.usageFromJson('anthropic.messages', body), usage(20, 1000, 300, 70));
    assert.equal(anthropicAdapter.usageFromJson('anthropic.count_tokens', { input_tokens: 5 }), null);
  });

  test('cache writes split by lifetime: the 1-hour part is counted apart', () => {
    const body = {
      usage: {
        input_tokens: 20,
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 300,
        cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 },
        output_tokens: 70,
      },
    };
    assert.deepEqual(anthropicAdapter.usageFromJson('anthropic.messages', body), usage(20, 0, 300, 70, 200));
  });

  test('the most an input token can cost: input price, or a 5-minute or 1-hour cache write', () => {
    const raw = (body: unknown) => Buffer.from(JSON.stringify(body));
    const plain = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    const cached = {
      model: 'm',
      system: [{ type: 'text', text: 'long', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'hi' }],
    };
    const hour = {
      ...cached,
      system: [{ type: 'text', text: 'long', cache_control: { type: 'ephemeral', ttl: '1h' } }],
    };
    assert.equal(anthropicInputPriceFactor(raw(plain)), 1);
    assert.equal(anthropicInputPriceFactor(raw(cached)), 1.25);
    assert.equal(anthropicInputPriceFactor(raw(hour)), 2);
    assert.equal(anthropicInputPriceFactor(null), 1);
    // A Provider that prices cache writes itself: its rates, relative to the input price.
    const priced = { inputPerMTok: 4, cacheWrite5mPerMTok: 6, cacheWrite1hPerMTok: 10 };
    assert.equal(anthropicInputPriceFactor(raw(cached), priced), 1.5);
    assert.equal(anthropicInputPriceFactor(raw(hour), priced), 2.5);
    assert.equal(anthropicInputPriceFactor(raw(plain), priced), 1);
  });

  const stream = [
    {
      type: 'message_start',
      message: {
        usage: {
          input_tokens: 12,
          cache_read_input_tokens: 500,
          cache_creation_input_tokens: 0,
          output_tokens: 1,
        },
      },
    },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'a'.repeat(80) } },
    { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"p":1}' } },
    { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 25 } },
    { type: 'message_stop' },
  ];

  test('stream: message_start then the cumulative message_delta', () => {
    const text = sse(stream, true);
    const r = run(anthropicAdapter, 'anthropic.messages', text);
    assert.equal(r.client, text);
    assert.deepEqual(r.usage, usage(12, 500, 0, 25));
    assert.equal(r.estimated, false);
  });

  test('stream cut before message_delta: input known, output estimated', () => {
    const text = sse(stream, true);
    const r = run(anthropicAdapter, 'anthropic.messages', text, false, text.indexOf('event: message_delta'));
    assert.equal(r.usage.inputTokens, 12);
    assert.equal(r.usage.cachedInputTokens, 500);
    assert.equal(r.usage.outputTokens, Math.ceil((80 + 7) / 4));
    assert.equal(r.estimated, true);
  });
});

describe('Gemini adapter', () => {
  test('usageMetadata: cached tokens are part of the prompt count, thoughts are output', () => {
    const body = {
      usageMetadata: {
        promptTokenCount: 1000,
        cachedContentTokenCount: 600,
        candidatesTokenCount: 40,
        thoughtsTokenCount: 60,
      },
    };
    assert.deepEqual(geminiAdapter.usageFromJson('gemini.generate', body), usage(400, 600, 0, 100));
    // streamGenerateContent without alt=sse: a JSON array, last usage wins.
    const arr = [
      { usageMetadata: { promptTokenCount: 10 } },
      { usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 7 } },
    ];
    assert.deepEqual(geminiAdapter.usageFromJson('gemini.generate', arr), usage(10, 0, 0, 7));
    assert.equal(geminiAdapter.usageFromJson('gemini.count_tokens', { totalTokens: 5 }), null);
  });

  test('SSE stream: running totals, the last one counts', () => {
    const part = (text: string, out: number) => ({
      candidates: [{ content: { role: 'model', parts: [{ text }] } }],
      usageMetadata: { promptTokenCount: 30, candidatesTokenCount: out },
    });
    const text = [part('Hello', 1), part(' world', 2), part('!', 3)]
      .map((p) => `data: ${JSON.stringify(p)}\r\n\r\n`)
      .join('');
    const r = run(geminiAdapter, 'gemini.generate', text);
    assert.equal(r.client, text);
    assert.deepEqual(r.usage, usage(30, 0, 0, 3));
  });
});

describe('error bodies in each API format', () => {
  test('OpenAI', () => {
    assert.deepEqual(openaiAdapter.errorBody(403, 'no', 'model_not_allowed'), {
      error: { message: 'no', type: 'permission_error', param: null, code: 'model_not_allowed' },
    });
    assert.equal(
      (openaiAdapter.errorBody(429, 'x', 'c') as { error: { type: string } }).error.type,
      'rate_limit_error',
    );
  });
  test('Anthropic', () => {
    assert.deepEqual(anthropicAdapter.errorBody(401, 'bad key', 'key_unknown'), {
      type: 'error',
      error: { type: 'authentication_error', message: 'bad key' },
    });
    assert.equal(
      (anthropicAdapter.errorBody(413, 'x', 'c') as { error: { type: string } }).error.type,
      'request_too_large',
    );
    assert.equal(
      (anthropicAdapter.errorBody(402, 'x', 'c') as { error: { type: string } }).error.type,
      'billing_error',
    );
  });
  test('Gemini', () => {
    assert.deepEqual(geminiAdapter.errorBody(403, 'no', 'model_not_allowed'), {
      error: { code: 403, message: 'no', status: 'PERMISSION_DENIED' },
    });
    assert.equal(
      (geminiAdapter.errorBody(504, 'x', 'c') as { error: { status: string } }).error.status,
      'DEADLINE_EXCEEDED',
    );
  });
});

describe('pricing', () => {
  const provider = {
    models: new Map([
      [
        'claude-sonnet-4',
        {
          id: 'claude-sonnet-4',
          inputPerMTok: 3,
          outputPerMTok: 15,
          cachedInputPerMTok: 0.3,
          cacheWrite5mPerMTok: 3.75,
          cacheWrite1hPerMTok: 6,
          maxOutputTokens: 1,
        },
      ],
      [
        'claude-sonnet-4-5',
        {
          id: 'claude-sonnet-4-5',
          inputPerMTok: 3,
          outputPerMTok: 15,
          cachedInputPerMTok: 0.3,
          cacheWrite5mPerMTok: 3.75,
          cacheWrite1hPerMTok: 6,
          maxOutputTokens: 1,
        },
      ],
    ]),
  } as unknown as ResolvedProvider;

  test('a dated model is priced by the longest entry it extends', () => {
    assert.equal(priceFor(provider, 'claude-sonnet-4-5-20250929')?.id, 'claude-sonnet-4-5');
    assert.equal(priceFor(provider, 'claude-sonnet-4-20250514')?.id, 'claude-sonnet-4');
    assert.equal(priceFor(provider, 'claude-sonnet-45'), undefined);
    assert.equal(priceFor(provider, ''), undefined);
  });

  test('cost: input, cached reads, cache writes at 1.25× input, output', () => {
    const price = priceFor(provider, 'claude-sonnet-4-5');
    const cost = costUsd(price, usage(1_000_000, 1_000_000, 1_000_000, 1_000_000));
    assert.ok(Math.abs(cost - (3 + 0.3 + 3.75 + 15)) < 1e-9);
    assert.equal(costUsd(undefined, usage(5, 5, 5, 5)), 0);
  });

  test('cost: 1-hour cache writes at 2× input, the rest of the writes at 1.25×', () => {
    const price = priceFor(provider, 'claude-sonnet-4-5');
    const cost = costUsd(price, usage(0, 0, 3_000_000, 0, 1_000_000));
    assert.ok(Math.abs(cost - (2 * 3.75 + 6)) < 1e-9, String(cost));
  });

  test('cost: a Provider that prices its cache writes is billed at its own rates', () => {
    const price = {
      ...priceFor(provider, 'claude-sonnet-4-5')!,
      cacheWrite5mPerMTok: 4,
      cacheWrite1hPerMTok: 7,
    };
    const cost = costUsd(price, usage(0, 0, 3_000_000, 0, 1_000_000));
    assert.ok(Math.abs(cost - (2 * 4 + 7)) < 1e-9, String(cost));
  });
});
