import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasTokenizer, tokenBound } from '../../src/limits/token-bound.ts';

test('OpenAI o200k models get a token count well under one token per byte; others none', async () => {
  const prose = 'Summarise the failing test and propose a fix for the race in the settle path. '.repeat(200);
  const body = JSON.stringify({ model: 'gpt-5-mini', messages: [{ role: 'user', content: prose }] });
  // The first count waits for the tokenizer to load; later ones are synchronous.
  const first = tokenBound('openai', 'gpt-5-mini', Buffer.from(body));
  assert.ok(first instanceof Promise);
  const n = await first;
  assert.equal(tokenBound('openai', 'gpt-5-mini', Buffer.from(body)), n);
  assert.ok(n !== undefined && n > 0);
  assert.ok(n < body.length / 3, `${n} tokens for ${body.length} bytes`);
  // The count covers every message's text: more than the prose alone.
  assert.ok(n > (tokenBound('openai', 'gpt-5-mini', prose) as number));
  assert.equal(hasTokenizer('anthropic', 'claude-opus-4-8'), false);
  assert.equal(tokenBound('openai', 'gpt-3.5-turbo', body), undefined, 'cl100k models are not guessed');
  assert.equal(tokenBound('gemini', 'gemini-3.1-pro-preview', body), undefined);
});
