import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { declaredTools, stripTools } from '../../src/tools/index.ts';

const anthropicBody = {
  model: 'claude-sonnet-4-5',
  max_tokens: 1024,
  messages: [{ role: 'user', content: 'fix the build' }],
  tools: [
    { name: 'Read', description: 'Read a file', input_schema: { type: 'object' } },
    { name: 'Bash', description: 'Run a command', input_schema: { type: 'object' } },
    { type: 'web_search_20250305', name: 'web_search', max_uses: 3 },
  ],
  tool_choice: { type: 'tool', name: 'Bash', disable_parallel_tool_use: true },
};

const chatBody = {
  model: 'gpt-5-mini',
  messages: [{ role: 'user', content: 'hi' }],
  tools: [
    { type: 'function', function: { name: 'shell', parameters: { type: 'object' } } },
    { type: 'function', function: { name: 'read_file', parameters: { type: 'object' } } },
    { type: 'custom', custom: { name: 'apply_patch' } },
  ],
  tool_choice: { type: 'function', function: { name: 'shell' } },
  parallel_tool_calls: true,
};

const responsesBody = {
  model: 'gpt-5',
  input: 'hi',
  tools: [
    { type: 'function', name: 'exec_command', parameters: { type: 'object' } },
    { type: 'function', name: 'view_image', parameters: { type: 'object' } },
    { type: 'local_shell' },
    { type: 'web_search' },
    { type: 'custom', name: 'apply_patch' },
  ],
  tool_choice: {
    type: 'allowed_tools',
    mode: 'auto',
    tools: [{ type: 'function', name: 'exec_command' }, { type: 'local_shell' }],
  },
};

const geminiBody = {
  contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
  tools: [
    {
      functionDeclarations: [
        { name: 'run_shell_command', parameters: { type: 'OBJECT' } },
        { name: 'read_file', parameters: { type: 'OBJECT' } },
      ],
    },
    { googleSearch: {} },
    { code_execution: {} },
  ],
  toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['run_shell_command'] } },
};

describe('declaredTools', () => {
  test('reads the tool names each API declares, built-ins by type or field', () => {
    assert.deepEqual(declaredTools('anthropic.messages', anthropicBody), ['Read', 'Bash', 'web_search']);
    assert.deepEqual(declaredTools('openai.chat', chatBody), ['shell', 'read_file', 'apply_patch']);
    assert.deepEqual(declaredTools('openai.responses', responsesBody), [
      'exec_command',
      'view_image',
      'local_shell',
      'web_search',
      'apply_patch',
    ]);
    assert.deepEqual(declaredTools('gemini.generate', geminiBody), [
      'run_shell_command',
      'read_file',
      'googleSearch',
      'codeExecution',
    ]);
  });

  test('no tools, odd bodies and tool-less surfaces give nothing', () => {
    assert.deepEqual(declaredTools('anthropic.messages', { messages: [] }), []);
    assert.deepEqual(declaredTools('openai.chat', null), []);
    assert.deepEqual(declaredTools('openai.embeddings', { tools: [{ name: 'x' }] }), []);
    assert.deepEqual(declaredTools('openai.chat', { functions: [{ name: 'legacy' }] }), ['legacy']);
  });
});

describe('stripTools', () => {
  test('Anthropic: removes the tool and turns a tool_choice that named it into auto', () => {
    const out = stripTools('anthropic.messages', anthropicBody, ['Bash']);
    assert.deepEqual(declaredTools('anthropic.messages', out), ['Read', 'web_search']);
    assert.deepEqual(out.tool_choice, { type: 'auto', disable_parallel_tool_use: true });
    assert.equal(anthropicBody.tools.length, 3, 'the input is not changed');
    assert.equal(anthropicBody.tool_choice.type, 'tool');
  });

  test('Anthropic: stripping every tool drops a forcing tool_choice', () => {
    const out = stripTools('anthropic.messages', { ...anthropicBody, tool_choice: { type: 'any' } }, [
      'Read',
      'Bash',
      'web_search',
    ]);
    assert.deepEqual(out.tools, []);
    assert.equal('tool_choice' in out, false);
  });

  test('OpenAI chat: forced function becomes auto; nothing left removes tools, tool_choice and parallel_tool_calls', () => {
    const some = stripTools('openai.chat', chatBody, ['shell']);
    assert.deepEqual(declaredTools('openai.chat', some), ['read_file', 'apply_patch']);
    assert.equal(some.tool_choice, 'auto');
    assert.equal(some.parallel_tool_calls, true);
    const none = stripTools('openai.chat', chatBody, ['shell', 'read_file', 'apply_patch']);
    assert.equal('tools' in none || 'tool_choice' in none || 'parallel_tool_calls' in none, false);
  });

  test('OpenAI Responses: built-in tools stripped by type, allowed_tools filtered', () => {
    const out = stripTools('openai.responses', responsesBody, ['local_shell', 'web_search']);
    assert.deepEqual(declaredTools('openai.responses', out), ['exec_command', 'view_image', 'apply_patch']);
    assert.deepEqual(out.tool_choice, {
      type: 'allowed_tools',
      mode: 'auto',
      tools: [{ type: 'function', name: 'exec_command' }],
    });
    const forced = stripTools(
      'openai.responses',
      { ...responsesBody, tool_choice: { type: 'local_shell' } },
      ['local_shell'],
    );
    assert.equal(forced.tool_choice, 'auto');
    const emptied = stripTools('openai.responses', responsesBody, ['exec_command', 'local_shell']);
    assert.equal(emptied.tool_choice, 'auto');
  });

  test('Gemini: declarations and built-ins removed, empty entries dropped, allowedFunctionNames fixed', () => {
    const out = stripTools('gemini.generate', geminiBody, ['run_shell_command', 'codeExecution']);
    assert.deepEqual(out.tools, [
      { functionDeclarations: [{ name: 'read_file', parameters: { type: 'OBJECT' } }] },
      { googleSearch: {} },
    ]);
    assert.deepEqual(out.toolConfig, { functionCallingConfig: { mode: 'AUTO' } });
    const none = stripTools('gemini.generate', geminiBody, [
      'run_shell_command',
      'read_file',
      'googleSearch',
      'codeExecution',
    ]);
    assert.equal('tools' in none || 'toolConfig' in none, false);
  });

  test('Gemini snake_case bodies are stripped too', () => {
    const body = {
      tools: [{ function_declarations: [{ name: 'run_shell_command' }, { name: 'glob' }] }],
      tool_config: {
        function_calling_config: { mode: 'ANY', allowed_function_names: ['glob', 'run_shell_command'] },
      },
    };
    const out = stripTools('gemini.generate', body, ['run_shell_command']);
    assert.deepEqual(out.tools, [{ function_declarations: [{ name: 'glob' }] }]);
    assert.deepEqual(out.tool_config, {
      function_calling_config: { mode: 'ANY', allowed_function_names: ['glob'] },
    });
  });

  test('nothing to strip returns the body unchanged', () => {
    assert.equal(stripTools('openai.chat', chatBody, []), chatBody);
  });
});
