// Translation cases the SDK round trips do not reach: what must survive a round trip through another
// format (signed reasoning, Gemini's call signatures, namespaced and free-form tools), what must be
// refused, and errors in the middle of a stream.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ChatSurface,
  StreamTranslator,
  TranslationError,
  translateRequest,
  translateResponse,
} from '../../../src/providers/translate/index.ts';

const opts = {
  clientModel: 'client-model',
  upstreamModel: 'up-model',
  stream: false,
  defaultMaxTokens: 32000,
};

function refuses(from: ChatSurface, to: ChatSurface, body: Record<string, unknown>, pattern: RegExp): void {
  assert.throws(
    () => translateRequest(from, to, body, opts),
    (err: unknown) => err instanceof TranslationError && err.status === 400 && pattern.test(err.message),
  );
}

describe('round trips through another format', () => {
  test('Claude’s signed thinking reaches a Responses client as encrypted content and goes back to Claude intact', () => {
    const answer = { model: 'm', freeformTools: new Set<string>() };
    const fromClaude = translateResponse(
      'anthropic.messages',
      'openai.responses',
      {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'let me think', signature: 'SIG123' },
          { type: 'text', text: 'done' },
        ],
        stop_reason: 'end_turn',
        usage: { input_tokens: 1, output_tokens: 2 },
      },
      answer,
    ) as { output: Array<Record<string, unknown>> };
    const reasoning = fromClaude.output[0];
    assert.equal(reasoning.type, 'reasoning');
    const back = translateRequest(
      'openai.responses',
      'anthropic.messages',
      {
        model: 'x',
        input: [
          { role: 'user', content: 'q' },
          reasoning,
          ...fromClaude.output.slice(1),
          { role: 'user', content: 'more' },
        ],
      },
      opts,
    ).body as { messages: Array<{ role: string; content: Array<Record<string, unknown>> }> };
    assert.deepEqual(back.messages[1].content[0], {
      type: 'thinking',
      thinking: 'let me think',
      signature: 'SIG123',
    });
  });

  test('a Gemini 3 call signature travels in the call id and is returned on the call', () => {
    const toClaude = translateResponse(
      'gemini.generate',
      'anthropic.messages',
      {
        candidates: [
          {
            content: {
              role: 'model',
              parts: [
                { functionCall: { name: 'Bash', args: { command: 'ls' } }, thoughtSignature: 'c2lnbmVk/+==' },
              ],
            },
            finishReason: 'STOP',
          },
        ],
        usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1 },
      },
      { model: 'm', freeformTools: new Set() },
    ) as { content: Array<{ type: string; id: string }>; stop_reason: string };
    assert.equal(toClaude.stop_reason, 'tool_use');
    const id = toClaude.content[0].id;
    assert.match(id, /^[A-Za-z0-9_-]+$/, 'a tool_use id Anthropic accepts');
    const back = translateRequest(
      'anthropic.messages',
      'gemini.generate',
      {
        model: 'x',
        max_tokens: 10,
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: [{ type: 'tool_use', id, name: 'Bash', input: { command: 'ls' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: 'a.txt' }] },
        ],
      },
      opts,
    ).body as { contents: Array<{ parts: Array<Record<string, unknown>> }> };
    assert.equal(back.contents[1].parts[0].thoughtSignature, 'c2lnbmVk/+==');
  });

  test('namespaced Responses tools are flattened for Claude and their calls split back', () => {
    const t = translateRequest(
      'openai.responses',
      'anthropic.messages',
      {
        model: 'x',
        input: 'go',
        tools: [
          {
            type: 'namespace',
            name: 'multi_agent_v1',
            description: '',
            tools: [{ type: 'function', name: 'spawn_agent', parameters: { type: 'object' } }],
          },
        ],
      },
      opts,
    );
    assert.deepEqual(
      (t.body.tools as Array<{ name: string }>).map((x) => x.name),
      ['multi_agent_v1__spawn_agent'],
    );
    const out = translateResponse(
      'anthropic.messages',
      'openai.responses',
      {
        id: 'msg_2',
        content: [{ type: 'tool_use', id: 'toolu_1', name: 'multi_agent_v1__spawn_agent', input: {} }],
        stop_reason: 'tool_use',
        usage: { input_tokens: 1, output_tokens: 1 },
      },
      t.answer,
    ) as { output: Array<Record<string, unknown>> };
    assert.equal(out.output[0].name, 'spawn_agent');
    assert.equal(out.output[0].namespace, 'multi_agent_v1');
  });
});

describe('refusals name what cannot be carried', () => {
  test('structured output, several choices, stored state, a document block', () => {
    refuses(
      'openai.chat',
      'anthropic.messages',
      { model: 'x', messages: [], response_format: { type: 'json_schema' } },
      /response_format/,
    );
    refuses('openai.chat', 'anthropic.messages', { model: 'x', messages: [], n: 2 }, /one choice/);
    refuses(
      'openai.responses',
      'anthropic.messages',
      { model: 'x', input: 'q', previous_response_id: 'resp_1' },
      /previous_response_id/,
    );
    refuses(
      'anthropic.messages',
      'openai.chat',
      {
        model: 'x',
        max_tokens: 5,
        messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }],
      },
      /document block/,
    );
  });

  test('stop sequences for the Responses API, an image by URL for Gemini', () => {
    refuses(
      'anthropic.messages',
      'openai.responses',
      { model: 'x', max_tokens: 5, stop_sequences: ['END'], messages: [{ role: 'user', content: 'q' }] },
      /stop sequences/,
    );
    refuses(
      'openai.chat',
      'gemini.generate',
      {
        model: 'x',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }],
      },
      /image given by URL/,
    );
  });
});

describe('errors in the middle of a stream', () => {
  test('an Anthropic overload mid-stream becomes response.failed for a Responses client', () => {
    const st = new StreamTranslator('anthropic.messages', 'openai.responses', {
      model: 'm',
      freeformTools: new Set(),
    });
    const ev = (type: string, payload: Record<string, unknown>) =>
      Buffer.from(`event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`);
    let out = st.push(
      ev('message_start', { message: { id: 'msg_1', model: 'x', usage: { input_tokens: 5 } } }),
    );
    out += st.push(ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
    out += st.push(ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'partial' } }));
    out += st.push(ev('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }));
    out += st.end();
    const types = [...out.matchAll(/^event: (.+)$/gm)].map((m) => m[1]);
    assert.equal(types.at(-1), 'response.failed');
    assert.match(out, /"message":"Overloaded"/);
    assert.ok(!types.includes('response.completed'));
  });

  test('an OpenAI stream cut before its finish ends a Claude client’s stream with an error event', () => {
    const st = new StreamTranslator('openai.chat', 'anthropic.messages', {
      model: 'm',
      freeformTools: new Set(),
    });
    let out = st.push(
      Buffer.from(
        `data: ${JSON.stringify({ id: 'c1', model: 'x', choices: [{ index: 0, delta: { content: 'hel' } }] })}\n\n`,
      ),
    );
    out += st.end();
    assert.match(
      out,
      /event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"the upstream stream ended before the answer was complete"\}\}/,
    );
    assert.ok(!out.includes('message_stop'));
  });
});
