import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { Surface } from '../../src/policy/decision.ts';
import {
  createToolCallWatcher,
  deniedToolErrorBody,
  deniedToolErrorEvent,
  findDeniedToolCalls,
} from '../../src/tools/index.ts';

/** Splits SSE text into events the way an event-stream parser does. */
function sseEvents(text: string): { event: string; data: string }[] {
  return text
    .split(/\n\n+/)
    .filter((b) => b.trim() !== '')
    .map((block) => {
      let event = '';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      return { event, data: data.join('\n') };
    });
}

const sse = (events: [string | null, unknown][]) =>
  events
    .map(([e, d]) => `${e ? `event: ${e}\n` : ''}data: ${typeof d === 'string' ? d : JSON.stringify(d)}\n\n`)
    .join('');

const ANTHROPIC_STREAM = sse([
  [
    'message_start',
    {
      type: 'message_start',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        content: [],
        model: 'claude-sonnet-4-5',
        usage: { input_tokens: 10, output_tokens: 1 },
      },
    },
  ],
  [
    'content_block_start',
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  ],
  [
    'content_block_delta',
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Let me run it.' } },
  ],
  ['content_block_stop', { type: 'content_block_stop', index: 0 }],
  [
    'content_block_start',
    {
      type: 'content_block_start',
      index: 1,
      content_block: { type: 'tool_use', id: 'toolu_01', name: 'Read', input: {} },
    },
  ],
  [
    'content_block_delta',
    {
      type: 'content_block_delta',
      index: 1,
      delta: { type: 'input_json_delta', partial_json: '{"file_path":"a"}' },
    },
  ],
  ['content_block_stop', { type: 'content_block_stop', index: 1 }],
  [
    'content_block_start',
    {
      type: 'content_block_start',
      index: 2,
      content_block: { type: 'tool_use', id: 'toolu_02', name: 'Bash', input: {} },
    },
  ],
  [
    'content_block_delta',
    {
      type: 'content_block_delta',
      index: 2,
      delta: { type: 'input_json_delta', partial_json: '{"command":"rm -rf /"}' },
    },
  ],
  ['content_block_stop', { type: 'content_block_stop', index: 2 }],
  [
    'message_delta',
    { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 40 } },
  ],
  ['message_stop', { type: 'message_stop' }],
]);

const chatChunk = (delta: unknown, finish: string | null = null) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-5-mini',
  choices: [{ index: 0, delta, finish_reason: finish }],
});
const CHAT_STREAM = sse([
  [null, chatChunk({ role: 'assistant', content: null })],
  [
    null,
    chatChunk({
      tool_calls: [
        { index: 0, id: 'call_a', type: 'function', function: { name: 'read_file', arguments: '' } },
      ],
    }),
  ],
  [null, chatChunk({ tool_calls: [{ index: 0, function: { arguments: '{"path":"x"}' } }] })],
  [
    null,
    chatChunk({
      tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'shell', arguments: '' } }],
    }),
  ],
  [null, chatChunk({ tool_calls: [{ index: 1, function: { arguments: '{"cmd":["ls"]}' } }] })],
  [null, chatChunk({}, 'tool_calls')],
  [null, '[DONE]'],
]);

const RESPONSES_STREAM = sse([
  [
    'response.created',
    {
      type: 'response.created',
      sequence_number: 0,
      response: { id: 'resp_1', status: 'in_progress', output: [] },
    },
  ],
  [
    'response.output_item.added',
    {
      type: 'response.output_item.added',
      sequence_number: 1,
      output_index: 0,
      item: { type: 'reasoning', id: 'rs_1', summary: [] },
    },
  ],
  [
    'response.output_item.done',
    {
      type: 'response.output_item.done',
      sequence_number: 2,
      output_index: 0,
      item: { type: 'reasoning', id: 'rs_1', summary: [] },
    },
  ],
  [
    'response.output_item.added',
    {
      type: 'response.output_item.added',
      sequence_number: 3,
      output_index: 1,
      item: {
        type: 'function_call',
        id: 'fc_1',
        call_id: 'call_1',
        name: 'exec_command',
        arguments: '',
        status: 'in_progress',
      },
    },
  ],
  [
    'response.function_call_arguments.delta',
    {
      type: 'response.function_call_arguments.delta',
      sequence_number: 4,
      item_id: 'fc_1',
      output_index: 1,
      delta: '{"cmd":"make"}',
    },
  ],
  [
    'response.completed',
    { type: 'response.completed', sequence_number: 5, response: { id: 'resp_1', status: 'completed' } },
  ],
]);

const RESPONSES_LOCAL_SHELL_STREAM = sse([
  ['response.created', { type: 'response.created', sequence_number: 0, response: { id: 'resp_2' } }],
  [
    'response.output_item.added',
    {
      type: 'response.output_item.added',
      sequence_number: 1,
      output_index: 0,
      item: {
        type: 'local_shell_call',
        id: 'lsh_1',
        call_id: 'call_9',
        action: { type: 'exec', command: ['ls'] },
        status: 'in_progress',
      },
    },
  ],
]);

const geminiChunk = (parts: unknown[], finish?: string) => ({
  candidates: [{ content: { role: 'model', parts }, ...(finish ? { finishReason: finish } : {}), index: 0 }],
  modelVersion: 'gemini-2.5-flash',
});
const GEMINI_STREAM = sse([
  [null, geminiChunk([{ text: 'I will check the files.' }])],
  [null, geminiChunk([{ functionCall: { name: 'read_file', args: { path: 'a' } } }])],
  [null, geminiChunk([{ functionCall: { name: 'run_shell_command', args: { command: 'ls' } } }], 'STOP')],
]);

const CASES: {
  surface: Surface;
  stream: string;
  denied: string[];
  expect: { name: string; id?: string };
  at: number;
}[] = [
  {
    surface: 'anthropic.messages',
    stream: ANTHROPIC_STREAM,
    denied: ['Bash', 'Write'],
    expect: { name: 'Bash', id: 'toolu_02' },
    at: 7,
  },
  {
    surface: 'openai.chat',
    stream: CHAT_STREAM,
    denied: ['shell'],
    expect: { name: 'shell', id: 'call_b' },
    at: 3,
  },
  {
    surface: 'openai.responses',
    stream: RESPONSES_STREAM,
    denied: ['exec_command'],
    expect: { name: 'exec_command', id: 'call_1' },
    at: 3,
  },
  {
    surface: 'openai.responses',
    stream: RESPONSES_LOCAL_SHELL_STREAM,
    denied: ['local_shell'],
    expect: { name: 'local_shell', id: 'call_9' },
    at: 1,
  },
  {
    surface: 'gemini.generate',
    stream: GEMINI_STREAM,
    denied: ['run_shell_command'],
    expect: { name: 'run_shell_command' },
    at: 2,
  },
];

describe('streaming: denied tool calls are reported as soon as their name appears', () => {
  for (const c of CASES) {
    test(`${c.surface}: ${c.expect.name}`, () => {
      const events = sseEvents(c.stream);
      const watcher = createToolCallWatcher(c.surface, c.denied);
      const hits = events.map((e) => watcher.push(e));
      const first = hits.findIndex((h) => h !== undefined);
      assert.equal(first, c.at, 'reported on the event that names the call, before its arguments');
      assert.deepEqual(hits[first], c.expect);
      assert.deepEqual(watcher.denied, c.expect);
    });
    test(`${c.surface}: allowed tools pass without a report`, () => {
      const watcher = createToolCallWatcher(c.surface, new Set(['SomethingElse']));
      for (const e of sseEvents(c.stream)) assert.equal(watcher.push(e), undefined);
      assert.equal(watcher.denied, undefined);
    });
  }

  test('already-parsed data and a predicate work too', () => {
    const watcher = createToolCallWatcher('anthropic.messages', (n) => n.startsWith('mcp__'));
    const hit = watcher.push({
      event: 'content_block_start',
      data: {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'tool_use', id: 't', name: 'mcp__github__delete_repo' },
      },
    });
    assert.deepEqual(hit, { name: 'mcp__github__delete_repo', id: 't' });
  });
});

describe('non-streaming: findDeniedToolCalls', () => {
  test('Anthropic tool_use blocks', () => {
    const body = {
      content: [
        { type: 'text', text: 'ok' },
        { type: 'tool_use', id: 'toolu_1', name: 'Read', input: {} },
        { type: 'tool_use', id: 'toolu_2', name: 'Write', input: {} },
      ],
    };
    assert.deepEqual(findDeniedToolCalls('anthropic.messages', body, ['Write', 'Bash']), [
      { name: 'Write', id: 'toolu_2' },
    ]);
    assert.deepEqual(findDeniedToolCalls('anthropic.messages', body, ['Bash']), []);
  });

  test('OpenAI chat tool_calls and legacy function_call', () => {
    const body = {
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'shell', arguments: '{}' } }],
            function_call: { name: 'apply_patch', arguments: '{}' },
          },
        },
      ],
    };
    assert.deepEqual(findDeniedToolCalls('openai.chat', body, ['shell', 'apply_patch']), [
      { name: 'shell', id: 'call_1' },
      { name: 'apply_patch' },
    ]);
  });

  test('OpenAI Responses function and built-in calls', () => {
    const body = {
      output: [
        { type: 'message', content: [] },
        { type: 'function_call', call_id: 'call_1', name: 'exec_command', arguments: '{}' },
        { type: 'web_search_call', id: 'ws_1', status: 'completed' },
      ],
    };
    assert.deepEqual(findDeniedToolCalls('openai.responses', body, ['web_search_preview']), [
      { name: 'web_search_preview', id: 'ws_1' },
    ]);
    assert.deepEqual(findDeniedToolCalls('openai.responses', body, ['exec_command']), [
      { name: 'exec_command', id: 'call_1' },
    ]);
  });

  test('Gemini functionCall parts', () => {
    const body = {
      candidates: [{ content: { parts: [{ functionCall: { name: 'run_shell_command', args: {} } }] } }],
    };
    assert.deepEqual(findDeniedToolCalls('gemini.generate', body, ['run_shell_command']), [
      { name: 'run_shell_command' },
    ]);
  });
});

/** A fetch that answers every request with the given SSE text. */
const sseFetch = (text: string) => async () =>
  new Response(text, { status: 200, headers: { 'content-type': 'text/event-stream' } });

describe('the error that ends a stream is raised by the real SDKs', () => {
  const cut = (stream: string, n: number, surface: Surface, tool: string) =>
    sseEvents(stream)
      .slice(0, n)
      .map((e) => `${e.event ? `event: ${e.event}\n` : ''}data: ${e.data}\n\n`)
      .join('') + new TextDecoder().decode(deniedToolErrorEvent(surface, tool, { scope: 'read-only' }));

  test('Anthropic SDK', async () => {
    const client = new Anthropic({
      apiKey: 'pcl_test',
      fetch: sseFetch(cut(ANTHROPIC_STREAM, 7, 'anthropic.messages', 'Bash')),
    });
    const stream = await client.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    await assert.rejects(async () => {
      for await (const _ of stream);
    }, /the model called the tool Bash, which your tool scope \(read-only\) does not allow/);
  });

  test('OpenAI SDK, chat and Responses', async () => {
    const chat = new OpenAI({
      apiKey: 'pcl_test',
      fetch: sseFetch(cut(CHAT_STREAM, 3, 'openai.chat', 'shell')),
    });
    const s1 = await chat.chat.completions.create({
      model: 'gpt-5-mini',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    await assert.rejects(async () => {
      for await (const _ of s1);
    }, /the model called the tool shell/);
    const responses = new OpenAI({
      apiKey: 'pcl_test',
      fetch: sseFetch(cut(RESPONSES_STREAM, 3, 'openai.responses', 'exec_command')),
    });
    const s2 = await responses.responses.create({ model: 'gpt-5', input: 'hi', stream: true });
    await assert.rejects(async () => {
      for await (const _ of s2);
    }, /the model called the tool exec_command/);
  });

  test('non-streaming bodies use each API error shape', () => {
    assert.deepEqual(Object.keys(deniedToolErrorBody('anthropic.messages', 'Bash') as object), [
      'type',
      'error',
    ]);
    assert.equal(
      (deniedToolErrorBody('gemini.generate', 'x') as { error: { status: string } }).error.status,
      'PERMISSION_DENIED',
    );
    assert.equal(
      (deniedToolErrorBody('openai.chat', 'x') as { error: { code: string } }).error.code,
      'tool_not_allowed',
    );
  });
});
