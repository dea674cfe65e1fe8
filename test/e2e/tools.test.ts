// Agent-tool refusal end to end: bob-dev's read-only scope denies Bash; a model that calls it anyway
// (the simulator answers with a Bash tool call) is refused, streamed or not.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { ApiError, GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { readAuditRecords } from '../../src/policyci/replay.ts';
import type { Simulator } from '../../src/simulator/server.ts';
import { examplePolicyCopy, TEST_KEYS } from '../fixtures/keys.ts';
import { type GatewayProcess, killAll, post, startGateway, startSimulator } from './helpers.ts';

const CALL_BASH = { 'x-sim-tool-call': 'Bash' };
const BASH_TOOL = {
  name: 'Bash',
  description: 'Run a shell command',
  input_schema: { type: 'object' as const, properties: { command: { type: 'string' } } },
};

// A call or stream that must fail: its error, for the assertions that follow.
const rejected = (e: unknown): unknown => e;
const NOT_REFUSED = () => assert.fail('the tool call was not refused');
const NO_STREAM_ERROR = () => assert.fail('the stream ended without an error');

describe('a model calling a denied agent tool', { timeout: 120_000 }, () => {
  let sim: Simulator;
  let gw: GatewayProcess;
  const anthropic = (key: string) =>
    new Anthropic({
      apiKey: key,
      authToken: null,
      baseURL: gw.url,
      maxRetries: 0,
      defaultHeaders: CALL_BASH,
    });
  const openai = (key: string) =>
    new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0, defaultHeaders: CALL_BASH });
  const gemini = (key: string) =>
    new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: gw.url, headers: CALL_BASH } });
  const REFUSED = /called the tool Bash, which your tool scope \(read-only\) does not allow/;

  before(async () => {
    const s = await startSimulator({ historySize: 20 });
    sim = s.sim;
    gw = await startGateway({ policyDir: examplePolicyCopy().dir, simUrl: s.url });
  });

  after(async () => {
    await gw?.stop();
    await sim?.close();
    killAll();
  });

  test('Anthropic, not streamed: 403 permission error naming the tool (the SDK raises it)', async () => {
    const err = await anthropic(TEST_KEYS.member)
      .messages.create({
        model: 'claude-haiku-4-5',
        max_tokens: 100,
        tools: [BASH_TOOL],
        messages: [{ role: 'user', content: 'list files' }],
      })
      .then(NOT_REFUSED, rejected);
    assert.ok(err instanceof Anthropic.PermissionDeniedError, String(err));
    assert.match(err.message, /called the tool Bash, which your tool scope \(read-only\) does not allow/);
    // The tool was stripped from what the provider saw, yet the model called it.
    const sent = sim.last('/v1/messages')?.body as { tools?: { name: string }[] };
    assert.deepEqual(sent.tools ?? [], []);
  });

  test('Anthropic, streamed: the stream ends with an error event before the call, and the SDK raises it', async () => {
    const stream = anthropic(TEST_KEYS.member).messages.stream({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'list files' }],
    });
    await assert.rejects(stream.finalMessage(), /called the tool Bash/);

    const raw = await post(
      gw.url,
      '/v1/messages',
      {
        model: 'claude-haiku-4-5',
        max_tokens: 100,
        stream: true,
        messages: [{ role: 'user', content: 'ls' }],
      },
      { 'x-api-key': TEST_KEYS.member, 'anthropic-version': '2023-06-01', ...CALL_BASH },
    );
    assert.equal(raw.status, 200);
    assert.ok(raw.text.trimEnd().split('\n\n').at(-1)?.startsWith('event: error\n'), raw.text);
    assert.ok(!raw.text.includes('"tool_use"'), 'the tool call itself never reached the client');
  });

  test('OpenAI chat, not streamed: 403 with code tool_not_allowed (the SDK raises it)', async () => {
    const err = await openai(TEST_KEYS.member)
      .chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'ls' }] })
      .then(NOT_REFUSED, rejected);
    assert.ok(err instanceof OpenAI.PermissionDeniedError, String(err));
    assert.equal(err.code, 'tool_not_allowed');
  });

  test('OpenAI chat, streamed: the SDK raises the error event that ends the stream', async () => {
    const stream = await openai(TEST_KEYS.member).chat.completions.create({
      model: 'gpt-5-mini',
      stream: true,
      messages: [{ role: 'user', content: 'ls' }],
    });
    const names: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) {
          for (const c of chunk.choices[0]?.delta.tool_calls ?? [])
            if (c.function?.name) names.push(c.function.name);
        }
      })(),
      /called the tool Bash/,
    );
    assert.deepEqual(names, [], 'the tool call never reached the client');
  });

  test('OpenAI Responses, not streamed: 403 with code tool_not_allowed (the SDK raises it)', async () => {
    const err = await openai(TEST_KEYS.member)
      .responses.create({ model: 'gpt-5-mini', input: 'list files' })
      .then(NOT_REFUSED, rejected);
    assert.ok(err instanceof OpenAI.PermissionDeniedError, String(err));
    assert.equal(err.code, 'tool_not_allowed');
    assert.match(err.message, REFUSED);
  });

  test('OpenAI Responses, streamed: the SDK raises the error event, and no function_call reached it', async () => {
    const stream = await openai(TEST_KEYS.member).responses.create({
      model: 'gpt-5-mini',
      input: 'list files',
      stream: true,
    });
    const seen: string[] = [];
    const err = await (async () => {
      for await (const ev of stream) {
        seen.push(ev.type);
        if (ev.type === 'response.output_item.added' || ev.type === 'response.output_item.done')
          seen.push(ev.item.type);
      }
    })().then(NO_STREAM_ERROR, rejected);
    // The stream's error event has no HTTP status (the response was a 200), so it is the base class.
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.code, 'tool_not_allowed');
    assert.equal(err.type, 'permission_error');
    assert.match(err.message, REFUSED);
    assert.ok(!seen.includes('function_call'), `a function_call reached the client: ${seen}`);
    assert.ok(!seen.includes('response.completed'));

    const helper = openai(TEST_KEYS.member).responses.stream({ model: 'gpt-5-mini', input: 'ls' });
    await assert.rejects(helper.finalResponse(), REFUSED);

    // Codex ignores `error` events and reads `response.failed`: the stream ends with one naming the
    // tool, under the code Codex does not retry (a retry would be refused the same way).
    const raw = await post(
      gw.url,
      '/v1/responses',
      { model: 'gpt-5-mini', input: 'ls', stream: true },
      { authorization: `Bearer ${TEST_KEYS.member}`, ...CALL_BASH },
    );
    const events = raw.text.trimEnd().split('\n\n');
    assert.ok(events.at(-2)?.startsWith('event: error\n'), raw.text);
    const last = events.at(-1) ?? '';
    assert.ok(last.startsWith('event: response.failed\n'), raw.text);
    const failed = JSON.parse(last.slice(last.indexOf('data: ') + 6));
    assert.equal(failed.response.status, 'failed');
    assert.equal(failed.response.error.code, 'invalid_prompt');
    assert.match(failed.response.error.message, REFUSED);
  });

  test('Gemini, not streamed: the SDK raises ApiError 403 naming the tool', async () => {
    const err = await gemini(TEST_KEYS.member)
      .models.generateContent({ model: 'gemini-2.5-flash', contents: 'list files' })
      .then(NOT_REFUSED, rejected);
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, 403);
    assert.match(err.message, /PERMISSION_DENIED/);
    assert.match(err.message, REFUSED);
    // The tool was never offered upstream: Gemini's tools were stripped too.
    const sent = sim.last('/v1beta/models/gemini-2.5-flash:generateContent')?.body as { tools?: unknown };
    assert.equal(sent.tools, undefined);
  });

  test('Gemini, streamed: the SDK raises the error chunk, and no functionCall reached it', async () => {
    const stream = await gemini(TEST_KEYS.member).models.generateContentStream({
      model: 'gemini-2.5-flash',
      contents: 'list files',
      config: {
        tools: [
          {
            functionDeclarations: [
              {
                name: 'Bash',
                description: 'Run a shell command',
                parametersJsonSchema: { type: 'object', properties: { command: { type: 'string' } } },
              },
            ],
          },
        ],
      },
    });
    const calls: unknown[] = [];
    const err = await (async () => {
      for await (const chunk of stream) {
        calls.push(...(chunk.functionCalls ?? []));
      }
    })().then(NO_STREAM_ERROR, rejected);
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, 403);
    assert.match(err.message, REFUSED);
    assert.deepEqual(calls, [], 'the tool call never reached the client');
    const sent = sim.last('/v1beta/models/gemini-2.5-flash:streamGenerateContent')?.body as {
      tools?: unknown;
    };
    assert.equal(sent.tools, undefined, 'the declared Bash tool was stripped');
  });

  test('Gemini, streamed as a JSON array (no alt=sse): the call is refused too', async () => {
    const raw = await post(
      gw.url,
      '/v1beta/models/gemini-2.5-flash:streamGenerateContent',
      { contents: [{ role: 'user', parts: [{ text: 'ls' }] }] },
      { 'x-goog-api-key': TEST_KEYS.member, ...CALL_BASH },
    );
    assert.ok(!raw.text.includes('"functionCall"'), 'the tool call reached the client');
    assert.match(raw.text, REFUSED);
  });

  test('a key whose scope allows the tool gets the call through (Anthropic)', async () => {
    // alice-principal has no tool scope.
    const msg = await anthropic(TEST_KEYS.principal).messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'list files' }],
    });
    assert.equal(msg.stop_reason, 'tool_use');
    assert.equal(msg.content.find((b) => b.type === 'tool_use')?.name, 'Bash');
  });
  test('a key whose scope allows the tool gets the call through (OpenAI Responses)', async () => {
    const res = await openai(TEST_KEYS.principal).responses.create({ model: 'gpt-5-mini', input: 'ls' });
    const call = res.output.find((i) => i.type === 'function_call');
    assert.equal(call?.type === 'function_call' && call.name, 'Bash');

    const stream = openai(TEST_KEYS.principal).responses.stream({ model: 'gpt-5-mini', input: 'ls' });
    const final = await stream.finalResponse();
    const streamed = final.output.find((i) => i.type === 'function_call');
    assert.ok(streamed?.type === 'function_call');
    assert.equal(streamed.name, 'Bash');
    assert.deepEqual(JSON.parse(streamed.arguments), { command: 'ls' });
  });

  test('a key whose scope allows the tool gets the call through (Gemini)', async () => {
    const client = gemini(TEST_KEYS.principal);
    const res = await client.models.generateContent({ model: 'gemini-2.5-flash', contents: 'ls' });
    assert.deepEqual(res.functionCalls, [{ name: 'Bash', args: { command: 'ls' } }]);

    const stream = await client.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'ls' });
    const calls: unknown[] = [];
    for await (const chunk of stream) calls.push(...(chunk.functionCalls ?? []));
    assert.deepEqual(calls, [{ name: 'Bash', args: { command: 'ls' } }]);
  });

  test('every refused answer is audited as blocked, with the tool in deniedCalls', async () => {
    assert.equal(await gw.stop(), 0);
    const records = readAuditRecords(gw.dataDir).filter((r) => r.keyId === 'bob-dev');
    const refused = records.filter((r) => r.tools.deniedCalls.length > 0);
    // Every call bob-dev made above was refused: on each surface, streamed and not.
    assert.ok(records.length >= 9);
    assert.equal(refused.length, records.length, JSON.stringify(records.map((r) => [r.surface, r.tools])));
    assert.deepEqual(
      new Set(refused.map((r) => r.surface)),
      new Set(['anthropic.messages', 'openai.chat', 'openai.responses', 'gemini.generate']),
    );
    for (const r of refused) {
      assert.deepEqual(r.tools.deniedCalls, ['Bash']);
      assert.equal(r.outcome, 'blocked');
    }
  });
});
