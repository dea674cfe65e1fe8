import assert from 'node:assert/strict';
import { test } from 'node:test';
import { outputCapFor } from '../../src/limits/output-cap.ts';

test('the lowest cap of the key and its teams that matches the model applies', () => {
  const key = [{ models: ['claude-opus-*'], maxOutputTokens: 8_192 }];
  const team = [{ maxOutputTokens: 16_000 }, { models: ['gpt-*'], maxOutputTokens: 4_000 }];
  assert.equal(outputCapFor([key, team], 'claude-opus-4-8'), 8_192);
  assert.equal(outputCapFor([key, team], 'claude-haiku-4-5'), 16_000);
  assert.equal(outputCapFor([key, team], 'gpt-5-mini'), 4_000);
  assert.equal(outputCapFor([key], 'gemini-3.1-pro-preview'), undefined);
});
