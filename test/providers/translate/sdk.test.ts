// Translation end to end with the official SDKs on both sides of a translating hop and the simulator
// answering in the upstream's real wire format: Claude Code's shape of call on OpenAI and Gemini
// models, Codex's on a Claude model, and the other pairs, streamed and not, tool calls round-tripping.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import type { ChatSurface } from '../../../src/providers/translate/index.ts';
import { Simulator } from '../../../src/simulator/server.ts';
import { startProxy, type TranslatingHop } from './proxy.ts';

const CALL = { 'x-sim-tool-call': 'Bash' };
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

let sim: Simulator;
before(async () => {
  sim = new Simulator({ outputTokens: 5, tokensPerChunk: 2, cachedTokens: 3 });
  await sim.listen();
});
after(() => sim.close());

function withProxy(to: ChatSurface): () => TranslatingHop {
  let proxy: TranslatingHop;
  before(async () => {
    proxy = await startProxy(sim.url, to);
  });
  after(() => proxy.close());
  return () => proxy;
}

/** The tools and history Claude Code sends: a cached system prompt, a JSON-Schema tool, a finished call. */
const claudeCodeTools: Anthropic.Tool[] = [
  {
    name: 'Bash',
    description: 'Run a shell command',
    input_schema: {
      type: 'object',
      properties: { command: { type: 'string' } },
      required: ['command'],
      additionalProperties: false,
      $schema: 'http://json-schema.org/draft-07/schema#',
    } as Anthropic.Tool.InputSchema,
  },
];
const claudeCodeSystem: Anthropic.TextBlockParam[] = [
  { type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } },
  { type: 'text', text: 'Work in /repo.' },
];
const history: Anthropic.MessageParam[] = [
  {
    role: 'user',
    content: [
      { type: 'text', text: 'what is in this picture, then list the files' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
    ],
  },
  {
    role: 'assistant',
    content: [
      { type: 'text', text: 'Listing.' },
      { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls' } },
    ],
  },
  { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'a.txt\nb.txt' }] },
];

for (const to of ['openai.chat', 'openai.responses', 'gemini.generate'] as const) {
  describe(`Anthropic Messages client (Claude Code) on ${to}`, () => {
    const proxy = withProxy(to);
    const client = (headers: Record<string, string> = CALL) =>
      new Anthropic({ apiKey: 'k', baseURL: proxy().url, maxRetries: 0, defaultHeaders: headers });

    test('streamed: text then a tool_use block the SDK accumulates, stop_reason tool_use, usage', async () => {
      const stream = client().messages.stream({
        model: 'claude-opus-4-8',
        max_tokens: 1000,
        system: claudeCodeSystem,
        tools: claudeCodeTools,
        messages: history,
      });
      const final = await stream.finalMessage();
      assert.equal(final.model, 'claude-opus-4-8');
      assert.equal(final.stop_reason, 'tool_use');
      assert.deepEqual(
        final.content.map((b) => b.type),
        ['text', 'tool_use'],
      );
      const call = final.content[1];
      assert.ok(call.type === 'tool_use');
      assert.equal(call.name, 'Bash');
      assert.deepEqual(call.input, { command: 'ls' });
      assert.equal((final.content[0] as Anthropic.TextBlock).text.split(' ').length, 5);
      assert.equal(final.usage.output_tokens, 5);
      assert.equal(final.usage.cache_read_input_tokens, 3);
      assert.ok(final.usage.input_tokens > 0);
    });

    test('the upstream receives the system prompt, the image, the call and its result in its own format', () => {
      const body = proxy().sent[0];
      const text = JSON.stringify(body);
      assert.match(text, /You are Claude Code\./);
      assert.match(text, /Work in \/repo\./);
      assert.ok(text.includes(PNG), 'the image data is forwarded');
      assert.ok(!text.includes('cache_control'), 'Anthropic-only cache hints are not sent');
      if (to === 'openai.chat') {
        const msgs = body.messages as Array<Record<string, unknown>>;
        assert.deepEqual(
          msgs.map((m) => m.role),
          ['system', 'user', 'assistant', 'tool'],
        );
        assert.deepEqual(msgs[2].tool_calls, [
          { id: 'toolu_1', type: 'function', function: { name: 'Bash', arguments: '{"command":"ls"}' } },
        ]);
        assert.deepEqual(msgs[3], { role: 'tool', tool_call_id: 'toolu_1', content: 'a.txt\nb.txt' });
        assert.deepEqual(body.stream_options, { include_usage: true });
      } else if (to === 'openai.responses') {
        const input = body.input as Array<Record<string, unknown>>;
        assert.deepEqual(
          input.map((i) => i.type),
          ['message', 'message', 'function_call', 'function_call_output'],
        );
        assert.equal(input[3].call_id, 'toolu_1');
        assert.equal(input[3].output, 'a.txt\nb.txt');
        assert.equal(body.store, false);
      } else {
        const contents = body.contents as Array<{ role: string; parts: Array<Record<string, unknown>> }>;
        assert.deepEqual(
          contents.map((c) => c.role),
          ['user', 'model', 'user'],
        );
        assert.deepEqual(contents[1].parts[1].functionCall, { name: 'Bash', args: { command: 'ls' } });
        assert.deepEqual(contents[2].parts[0], {
          functionResponse: { name: 'Bash', response: { output: 'a.txt\nb.txt' } },
        });
        const decl = (body.tools as Array<{ functionDeclarations: Array<Record<string, unknown>> }>)[0]
          .functionDeclarations[0];
        assert.equal(decl.name, 'Bash');
        assert.ok(!('$schema' in (decl.parametersJsonSchema as object)));
      }
    });

    test('not streamed: the same answer as one message', async () => {
      const msg = await client().messages.create({
        model: 'claude-opus-4-8',
        max_tokens: 1000,
        tools: claudeCodeTools,
        messages: [{ role: 'user', content: 'list files' }],
      });
      assert.equal(msg.stop_reason, 'tool_use');
      assert.deepEqual(
        msg.content.map((b) => b.type),
        ['text', 'tool_use'],
      );
      assert.match(msg.id, /^msg_/);
    });

    test('a server tool is refused in the caller format, naming the tool', async () => {
      await assert.rejects(
        client().messages.create({
          model: 'claude-opus-4-8',
          max_tokens: 100,
          tools: [{ type: 'web_search_20250305', name: 'web_search' }],
          messages: [{ role: 'user', content: 'hi' }],
        }),
        (err: unknown) => {
          assert.ok(err instanceof Anthropic.BadRequestError);
          assert.match(err.message, /web_search.*server tool/);
          return true;
        },
      );
    });

    test('an upstream 429 comes back as an Anthropic rate-limit error', async () => {
      await assert.rejects(
        client({ 'x-sim-status': '429' }).messages.create({
          model: 'claude-opus-4-8',
          max_tokens: 100,
          messages: [{ role: 'user', content: 'hi' }],
        }),
        (err: unknown) => err instanceof Anthropic.RateLimitError,
      );
    });
  });
}

/** What Codex sends: instructions, a developer message, a custom (free-form) tool, an earlier call. */
const codexInput: OpenAI.Responses.ResponseInput = [
  { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'sandbox: workspace-write' }] },
  { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'list the files' }] },
  { type: 'function_call', call_id: 'call_a', name: 'shell', arguments: '{"command":["ls"]}' },
  { type: 'function_call_output', call_id: 'call_a', output: 'a.txt' },
];
const codexTools: OpenAI.Responses.Tool[] = [
  {
    type: 'function',
    name: 'shell',
    description: 'Runs a shell command',
    strict: false,
    parameters: { type: 'object', properties: { command: { type: 'array', items: { type: 'string' } } } },
  },
  {
    type: 'custom',
    name: 'apply_patch',
    description: 'Apply a patch',
    format: { type: 'grammar', syntax: 'lark', definition: 'start: "*** Begin Patch"' },
  },
];

for (const to of ['anthropic.messages', 'openai.chat', 'gemini.generate'] as const) {
  describe(`OpenAI Responses client (Codex) on ${to}`, () => {
    const proxy = withProxy(to);
    const client = (headers: Record<string, string> = CALL) =>
      new OpenAI({ apiKey: 'k', baseURL: `${proxy().url}/v1`, maxRetries: 0, defaultHeaders: headers });

    test('streamed: the SDK accumulates a message and a function_call from the translated events', async () => {
      const stream = client().responses.stream({
        model: 'gpt-6.2-sol',
        instructions: 'You are Codex.',
        input: codexInput,
        tools: codexTools,
        reasoning: { effort: 'medium', summary: 'auto' },
        store: false,
        include: ['reasoning.encrypted_content'],
        prompt_cache_key: 'abc',
        parallel_tool_calls: false,
      });
      const done: string[] = [];
      stream.on('response.output_item.done', (e) => done.push(e.item.type));
      const final = await stream.finalResponse();
      assert.equal(final.status, 'completed');
      assert.equal(final.model, 'gpt-6.2-sol');
      assert.deepEqual(done, ['message', 'function_call']);
      const call = final.output.find((i) => i.type === 'function_call');
      assert.ok(call !== undefined && call.type === 'function_call');
      assert.equal(call.name, 'Bash');
      assert.deepEqual(JSON.parse(call.arguments), { command: 'ls' });
      assert.equal(final.output_text.split(' ').length, 5);
      assert.equal(final.usage?.output_tokens, 5);
      assert.equal(final.usage?.input_tokens_details.cached_tokens, 3);
    });

    test('the upstream receives instructions, the developer message, the call, its output and both tools', () => {
      const body = proxy().sent[0];
      const text = JSON.stringify(body);
      assert.match(text, /You are Codex\./);
      assert.match(text, /sandbox: workspace-write/);
      assert.match(text, /apply_patch/);
      assert.match(text, /lark/);
      if (to === 'anthropic.messages') {
        const msgs = body.messages as Array<{ role: string; content: Array<Record<string, unknown>> }>;
        assert.deepEqual(
          msgs.map((m) => m.role),
          ['user', 'assistant', 'user'],
        );
        assert.deepEqual(msgs[1].content[0], {
          type: 'tool_use',
          id: 'call_a',
          name: 'shell',
          input: { command: ['ls'] },
        });
        assert.deepEqual(msgs[2].content[0], {
          type: 'tool_result',
          tool_use_id: 'call_a',
          content: [{ type: 'text', text: 'a.txt' }],
        });
        assert.deepEqual(body.tool_choice, { type: 'auto', disable_parallel_tool_use: true });
        assert.equal((body.thinking as { type: string }).type, 'enabled');
        assert.equal(body.max_tokens, 16000);
      }
    });

    test('a free-form tool call comes back as a custom_tool_call with the raw input', async () => {
      const res = await client({ 'x-sim-tool-call': 'apply_patch' }).responses.create({
        model: 'gpt-6.2-sol',
        input: 'patch it',
        tools: codexTools,
      });
      const call = res.output.find((i) => i.type === 'custom_tool_call');
      assert.ok(call !== undefined && call.type === 'custom_tool_call', JSON.stringify(res.output));
      assert.equal(call.name, 'apply_patch');
      // The simulator's call carries {"command":"ls"}, not {"input": …}: passed on as the model wrote it.
      assert.equal(call.input, '{"command":"ls"}');
    });

    test('a hosted tool (web_search) is refused with a 400 naming it', async () => {
      await assert.rejects(
        client().responses.create({ model: 'gpt-6.2-sol', input: 'hi', tools: [{ type: 'web_search' }] }),
        (err: unknown) => err instanceof OpenAI.BadRequestError && /web_search/.test(err.message),
      );
    });
  });
}

for (const to of ['anthropic.messages', 'openai.responses', 'gemini.generate'] as const) {
  describe(`OpenAI Chat client on ${to}`, () => {
    const proxy = withProxy(to);
    const client = () =>
      new OpenAI({ apiKey: 'k', baseURL: `${proxy().url}/v1`, maxRetries: 0, defaultHeaders: CALL });
    const tools: OpenAI.Chat.ChatCompletionTool[] = [
      { type: 'function', function: { name: 'Bash', parameters: { type: 'object', properties: {} } } },
    ];

    test('streamed with usage: tool call deltas the SDK assembles, finish_reason tool_calls', async () => {
      const stream = client().chat.completions.stream({
        model: 'claude-sonnet-4-5',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'list' },
        ],
        tools,
        stream_options: { include_usage: true },
      });
      const final = await stream.finalChatCompletion();
      const choice = final.choices[0];
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.tool_calls?.[0].type, 'function');
      const fn = choice.message.tool_calls?.[0];
      assert.ok(fn?.type === 'function');
      assert.equal(fn.function.name, 'Bash');
      assert.deepEqual(JSON.parse(fn.function.arguments), { command: 'ls' });
      assert.equal(final.usage?.completion_tokens, 5);
    });

    test('not streamed', async () => {
      const res = await client().chat.completions.create({
        model: 'claude-sonnet-4-5',
        messages: [{ role: 'user', content: 'list' }],
        tools,
      });
      assert.equal(res.choices[0].finish_reason, 'tool_calls');
      assert.equal(res.usage?.completion_tokens, 5);
    });
  });
}

for (const to of ['anthropic.messages', 'openai.chat', 'openai.responses'] as const) {
  describe(`Gemini client (Gemini CLI) on ${to}`, () => {
    const proxy = withProxy(to);
    const client = () =>
      new GoogleGenAI({ apiKey: 'k', httpOptions: { baseUrl: proxy().url, headers: CALL } });
    const config = {
      systemInstruction: 'be brief',
      tools: [{ functionDeclarations: [{ name: 'Bash', parametersJsonSchema: { type: 'object' } }] }],
    };

    test('streamed: text chunks, then the function call with its arguments, then the finish', async () => {
      const chunks = await client().models.generateContentStream({
        model: 'gemini-3.1-pro-preview',
        contents: [
          { role: 'user', parts: [{ text: 'list' }] },
          { role: 'model', parts: [{ functionCall: { name: 'Bash', args: { command: 'pwd' } } }] },
          { role: 'user', parts: [{ functionResponse: { name: 'Bash', response: { output: '/repo' } } }] },
        ],
        config,
      });
      let text = '';
      const calls: unknown[] = [];
      let finish: string | undefined;
      let usage: number | undefined;
      for await (const c of chunks) {
        text += c.text ?? '';
        for (const fc of c.functionCalls ?? []) calls.push({ name: fc.name, args: fc.args });
        finish = c.candidates?.[0]?.finishReason ?? finish;
        usage = c.usageMetadata?.candidatesTokenCount ?? usage;
      }
      assert.equal(text.split(' ').length, 5);
      assert.deepEqual(calls, [{ name: 'Bash', args: { command: 'ls' } }]);
      assert.equal(finish, 'STOP');
      assert.equal(usage, 5);
      const sent = JSON.stringify(proxy().sent[0]);
      assert.match(sent, /\/repo/);
      assert.match(sent, /pwd/);
    });

    test('not streamed', async () => {
      const res = await client().models.generateContent({
        model: 'gemini-3.1-pro-preview',
        contents: 'list',
        config,
      });
      assert.deepEqual(
        res.functionCalls?.map((f) => f.name),
        ['Bash'],
      );
      assert.equal(res.usageMetadata?.candidatesTokenCount, 5);
    });
  });
}
