// `x-sim-tool-call` on the Responses and Gemini surfaces, read back by the official SDKs (whose
// stream accumulators reject events that do not fit the items they announced) and as raw JSON.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { simulatorClients } from './sdk-clients.ts';

const CALL = { 'x-sim-tool-call': 'Bash' };
const ARGS = { command: 'ls' };

const { openai, gemini, post } = simulatorClients(CALL);

async function raw(path: string, body: unknown, headers: Record<string, string> = CALL): Promise<string> {
  return (await post(path, body, headers)).text();
}

describe('simulator tool calls: OpenAI Responses', () => {
  test('not streamed: a function_call output item after the message, usage as without it', async () => {
    const res = await openai().responses.create({ model: 'gpt-5', input: 'list files' });
    assert.equal(res.status, 'completed');
    assert.deepEqual(
      res.output.map((i) => i.type),
      ['message', 'function_call'],
    );
    const call = res.output[1];
    assert.ok(call.type === 'function_call');
    assert.equal(call.name, 'Bash');
    assert.deepEqual(JSON.parse(call.arguments), ARGS);
    assert.match(call.call_id, /^call_/);
    assert.match(call.id ?? '', /^fc_/);
    assert.equal(call.status, 'completed');
    assert.equal(res.output_text.split(' ').length, 5);
    assert.equal(res.usage?.output_tokens, 5);

    const plain = await openai({}).responses.create({ model: 'gpt-5', input: 'list files' });
    assert.deepEqual(
      plain.output.map((i) => i.type),
      ['message'],
    );
  });

  test('streamed: the SDK accumulates the call from its events into the final response', async () => {
    const stream = openai().responses.stream({ model: 'gpt-5', input: 'list files' });
    const types: string[] = [];
    let deltas = '';
    stream.on('event', (e) => {
      types.push(e.type);
      if (e.type === 'response.function_call_arguments.delta') deltas += e.delta;
    });
    const final = await stream.finalResponse();
    assert.deepEqual(types.slice(types.indexOf('response.output_item.added', 3)), [
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    assert.deepEqual(JSON.parse(deltas), ARGS);
    const call = final.output.find((i) => i.type === 'function_call');
    assert.ok(call?.type === 'function_call');
    assert.equal(call.name, 'Bash');
    assert.deepEqual(JSON.parse(call.arguments), ARGS);
    assert.equal(final.usage?.output_tokens, 5);
  });

  test('streamed: sequence numbers run on through the call; the item is announced with empty arguments', async () => {
    const text = await raw('/v1/responses', { model: 'gpt-5', input: 'ls', stream: true });
    const events = text
      .split('\n\n')
      .filter(Boolean)
      .map((b) => JSON.parse(b.slice(b.indexOf('data: ') + 6)));
    assert.deepEqual(
      events.map((e) => e.sequence_number),
      events.map((_, i) => i),
    );
    const added = events.filter((e) => e.type === 'response.output_item.added');
    assert.deepEqual(added[1], {
      type: 'response.output_item.added',
      sequence_number: added[1].sequence_number,
      output_index: 1,
      item: {
        type: 'function_call',
        id: added[1].item.id,
        call_id: added[1].item.call_id,
        name: 'Bash',
        arguments: '',
        status: 'in_progress',
      },
    });
    const done = events.find((e) => e.type === 'response.function_call_arguments.done');
    assert.equal(done.item_id, added[1].item.id);
    assert.equal(done.name, 'Bash');
    assert.equal(done.arguments, '{"command":"ls"}');
  });
});

describe('simulator tool calls: Gemini', () => {
  test('not streamed: a functionCall part after the text, finishReason STOP', async () => {
    const res = await gemini().models.generateContent({ model: 'gemini-2.5-flash', contents: 'list files' });
    assert.deepEqual(res.functionCalls, [{ name: 'Bash', args: ARGS }]);
    assert.equal(res.candidates?.[0].finishReason, 'STOP');
    assert.equal(res.candidates?.[0].content?.parts?.[0].text?.split(' ').length, 5);
    assert.equal(res.usageMetadata?.candidatesTokenCount, 5);

    const plain = await gemini({}).models.generateContent({ model: 'gemini-2.5-flash', contents: 'x' });
    assert.equal(plain.functionCalls, undefined);
  });

  test('not streamed: the call survives a max-token cut with STOP, as on the other surfaces', async () => {
    const res = await gemini().models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'list files',
      config: { maxOutputTokens: 2 },
    });
    assert.equal(res.candidates?.[0].finishReason, 'STOP');
    assert.deepEqual(res.functionCalls, [{ name: 'Bash', args: ARGS }]);
  });

  test('streamed (SSE): text chunks, then the call whole in the last chunk, which finishes', async () => {
    const stream = await gemini().models.generateContentStream({
      model: 'gemini-2.5-flash',
      contents: 'list files',
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const last = chunks.at(-1);
    assert.deepEqual(last?.functionCalls, [{ name: 'Bash', args: ARGS }]);
    assert.equal(last?.candidates?.[0].finishReason, 'STOP');
    assert.equal(last?.usageMetadata?.candidatesTokenCount, 5);
    for (const c of chunks.slice(0, -1)) {
      assert.equal(c.functionCalls, undefined);
      assert.equal(c.candidates?.[0].finishReason, undefined);
    }
    assert.equal(
      chunks
        .slice(0, -1)
        .map((c) => c.text)
        .join('')
        .split(' ').length,
      5,
    );
  });

  test('streamed as a JSON array: the same chunks', async () => {
    const path = '/v1beta/models/gemini-2.5-flash:streamGenerateContent';
    const arr = JSON.parse(await raw(path, { contents: [] }));
    const sse = (await raw(`${path}?alt=sse`, { contents: [] }))
      .split('\r\n\r\n')
      .filter(Boolean)
      .map((b) => JSON.parse(b.slice('data: '.length)));
    const strip = (cs: { responseId?: string }[]) => cs.map(({ responseId: _, ...c }) => c);
    assert.deepEqual(strip(arr), strip(sse));
    assert.deepEqual(arr.at(-1).candidates[0].content.parts, [
      { functionCall: { name: 'Bash', args: ARGS } },
    ]);
  });
});
