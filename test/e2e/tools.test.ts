// Agent-tool refusal end to end: bob-dev's read-only scope denies Bash; a model that calls it anyway
// (the simulator answers with a Bash tool call) is refused, streamed or not.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { Simulator } from '../../src/simulator/server.ts';
import { examplePolicyCopy, TEST_KEYS } from '../fixtures/keys.ts';
import { type GatewayProcess, killAll, post, startGateway, startSimulator } from './helpers.ts';

const CALL_BASH = { 'x-sim-tool-call': 'Bash' };
const BASH_TOOL = {
  name: 'Bash',
  description: 'Run a shell command',
  input_schema: { type: 'object' as const, properties: { command: { type: 'string' } } },
};

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
      .then(
        () => assert.fail('the tool call was not refused'),
        (e: unknown) => e,
      );
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
      .then(
        () => assert.fail('the tool call was not refused'),
        (e: unknown) => e,
      );
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

  test('a key whose scope allows the tool gets the call through', async () => {
    // alice-principal has no tool scope.
    const msg = await anthropic(TEST_KEYS.principal).messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'list files' }],
    });
    assert.equal(msg.stop_reason, 'tool_use');
    assert.equal(msg.content.find((b) => b.type === 'tool_use')?.name, 'Bash');
  });
});
