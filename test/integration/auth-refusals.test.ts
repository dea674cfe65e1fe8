// A caller without a valid key is refused from its headers alone, before the body is read. The
// example policy must then give the one reason that is true (no key, a disabled key), in each
// surface's error format, and not judge the model or provider the gateway never read.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { shortRevision } from '../../src/gateway/errors.ts';
import { type RealStack, startRealStack } from './stack.ts';

let s: RealStack;
before(async () => {
  s = await startRealStack();
});
after(() => s?.close());

// The example policy's words (policies/rego/auth.rego).
const REASONS = {
  key_missing:
    "No API key was sent. Set your client's API key to the Portcullis virtual key your platform team gave you.",
  key_disabled: 'This Portcullis virtual key has been disabled. Ask your platform team for help.',
};
type Code = keyof typeof REASONS;

const expected = (code: Code) =>
  `Portcullis denied this request: ${REASONS[code]} [${code}; policy ${shortRevision(s.snapshot.revision)}]`;

interface Surface {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /** How this surface's clients send a key. */
  keyHeaders(key: string): Record<string, string>;
  /** The error message, after checking the body has this API's error shape. */
  message(body: Record<string, unknown>, code: Code): string;
}

function openaiMessage(body: Record<string, unknown>, code: Code): string {
  const error = body.error as Record<string, unknown>;
  assert.equal(error.type, 'authentication_error');
  assert.equal(error.code, code);
  return error.message as string;
}

const SURFACES: Surface[] = [
  {
    name: 'OpenAI chat completions',
    method: 'POST',
    path: '/v1/chat/completions',
    body: { model: 'gpt-5-mini', messages: [{ role: 'user', content: 'hi' }] },
    keyHeaders: (key) => ({ authorization: `Bearer ${key}` }),
    message: openaiMessage,
  },
  {
    name: 'OpenAI responses',
    method: 'POST',
    path: '/v1/responses',
    body: { model: 'gpt-5-mini', input: 'hi' },
    keyHeaders: (key) => ({ authorization: `Bearer ${key}` }),
    message: openaiMessage,
  },
  {
    name: 'OpenAI model listing',
    method: 'GET',
    path: '/v1/models',
    keyHeaders: (key) => ({ authorization: `Bearer ${key}` }),
    message: openaiMessage,
  },
  {
    name: 'Anthropic messages',
    method: 'POST',
    path: '/v1/messages',
    body: { model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
    keyHeaders: (key) => ({ 'x-api-key': key, 'anthropic-version': '2023-06-01' }),
    message(body) {
      assert.equal(body.type, 'error');
      const error = body.error as Record<string, unknown>;
      assert.equal(error.type, 'authentication_error');
      return error.message as string;
    },
  },
  {
    name: 'Gemini generateContent',
    method: 'POST',
    path: '/v1beta/models/gemini-2.5-flash:generateContent',
    body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] },
    keyHeaders: (key) => ({ 'x-goog-api-key': key }),
    message(body) {
      const error = body.error as Record<string, unknown>;
      assert.equal(error.code, 401);
      assert.equal(error.status, 'UNAUTHENTICATED');
      return error.message as string;
    },
  },
];

async function send(surface: Surface, headers: Record<string, string>) {
  const res = await fetch(`${s.url}${surface.path}`, {
    method: surface.method,
    headers: { 'content-type': 'application/json', ...headers },
    body: surface.method === 'POST' ? JSON.stringify(surface.body) : undefined,
  });
  return { res, body: (await res.json()) as Record<string, unknown> };
}

describe('a refused key hears only why it was refused', () => {
  for (const surface of SURFACES) {
    test(`${surface.name}: no key`, async () => {
      const { res, body } = await send(surface, {});
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('x-portcullis-decision'), 'key_missing');
      assert.equal(surface.message(body, 'key_missing'), expected('key_missing'));
    });

    test(`${surface.name}: a disabled key`, async () => {
      const { res, body } = await send(surface, surface.keyHeaders(s.keys.disabled));
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('x-portcullis-decision'), 'key_disabled');
      assert.equal(surface.message(body, 'key_disabled'), expected('key_disabled'));
    });
  }

  test('nothing reached a provider', () => {
    assert.equal(s.sim.requests.length, 0);
  });

  test('a valid key naming no model is told that, once', async () => {
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${s.keys.member}` },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 404);
    const error = ((await res.json()) as { error: { message: string; code: string } }).error;
    assert.equal(error.code, 'model_not_found');
    assert.equal(
      error.message,
      'Portcullis: no provider configured on this gateway serves model (none given).',
    );
  });
});
