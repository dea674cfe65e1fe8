import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { trailingObject } from '../../src/providers/tail.ts';

describe('trailingObject', () => {
  test('finds the last usage object, nested objects included', () => {
    const body = JSON.stringify({
      id: 'x',
      choices: [{ message: { content: 'talk about "usage": {"prompt_tokens": 999}' } }],
      usage: { prompt_tokens: 5, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 1 } },
      service_tier: 'default',
    });
    assert.deepEqual(trailingObject(body, 'usage'), {
      prompt_tokens: 5,
      completion_tokens: 7,
      prompt_tokens_details: { cached_tokens: 1 },
    });
  });

  test('a string value "usage" or a null usage is not a usage object', () => {
    assert.equal(trailingObject('{"kind":"usage","usage":null}', 'usage'), undefined);
    assert.equal(trailingObject('{"a":"usage"}', 'usage'), undefined);
    assert.deepEqual(trailingObject('{"usage" : { "input_tokens" : 3 } }', 'usage'), { input_tokens: 3 });
  });

  test('works on the tail of a large body cut anywhere before the usage key', () => {
    const body = JSON.stringify({
      text: 'é'.repeat(50_000),
      usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 2 },
    });
    const tail = Buffer.from(body).toString('latin1').slice(-1000);
    assert.deepEqual(trailingObject(tail, 'usageMetadata'), { promptTokenCount: 4, candidatesTokenCount: 2 });
    assert.equal(trailingObject(tail.slice(0, -5), 'usageMetadata'), undefined);
  });
});
