import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerFactsOfJson, answerFactsOfText } from '../../src/observability/answer-facts.ts';

test("the answering model and finish reasons are read from each format's parsed answer", () => {
  assert.deepEqual(
    answerFactsOfJson({
      id: 'msg_1',
      model: 'claude-sonnet-4-20250514',
      content: [{ type: 'text', text: 'quoting "stop_reason":"fake" and "model":"fake"' }],
      stop_reason: 'tool_use',
    }),
    { responseModel: 'claude-sonnet-4-20250514', finishReasons: ['tool_use'] },
  );
  assert.deepEqual(
    answerFactsOfJson({
      model: 'gpt-5-2025-08-07',
      choices: [
        { index: 0, message: { content: 'a' }, finish_reason: 'stop' },
        { index: 1, message: { content: 'b' }, finish_reason: 'length' },
        { index: 2, message: { content: 'c' }, finish_reason: 'stop' },
      ],
    }),
    { responseModel: 'gpt-5-2025-08-07', finishReasons: ['stop', 'length'] },
  );
  assert.deepEqual(
    answerFactsOfJson({
      candidates: [{ content: { parts: [] }, finishReason: 'STOP' }],
      modelVersion: 'gemini-2.5-pro',
    }),
    { responseModel: 'gemini-2.5-pro', finishReasons: ['STOP'] },
  );
  assert.deepEqual(answerFactsOfJson({ model: 'bad"name', stop_reason: 'not a reason!' }), {});
  assert.deepEqual(answerFactsOfJson(null), {});
});

test("a stream's tail gives what it still holds", () => {
  const tail =
    'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"}}\n\ndata: {"type":"message_stop","model":"claude-x"}\n\n';
  assert.deepEqual(answerFactsOfText(tail), { responseModel: 'claude-x', finishReasons: ['end_turn'] });
  assert.deepEqual(answerFactsOfText('data: {"type":"ping"}'), {
    responseModel: undefined,
    finishReasons: undefined,
  });
});
