// The error catalogue: every code once, with a status a client can act on and a message that says who
// answered; one writer that puts it in each API's own format.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  denialError,
  ERRORS,
  type ErrorCode,
  errorPayload,
  gatewayError,
  refusal,
} from '../../src/gateway/errors.ts';

describe('error catalogue', () => {
  test('every entry has an error status and a message naming Portcullis', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      assert.ok(spec.status >= 400 && spec.status < 600, code);
      const message = (spec.message as (...a: unknown[]) => string)('x', 'y', 'z');
      assert.match(message, /Portcullis/, code);
      const args = ['x', 'y', 'z'] as unknown as Parameters<(typeof ERRORS)[ErrorCode]['message']>;
      assert.equal(gatewayError(code as ErrorCode, ...args).code, code);
    }
  });

  test('one writer, each API’s own error shape', () => {
    const err = gatewayError('not_ready');
    assert.deepEqual(JSON.parse(errorPayload('anthropic', err)).type, 'error');
    assert.equal(JSON.parse(errorPayload('openai', err)).error.code, 'not_ready');
    assert.equal(JSON.parse(errorPayload('gemini', err)).error.code, 503);
  });

  test('a denial carries its code, retry-after and the policy revision', () => {
    const d = denialError(refusal(429, 'rate_limited', 'Slow down.', 1.2), 'sha256:abcdef0123456789ff');
    assert.equal(d.status, 429);
    assert.deepEqual(d.headers, { 'x-portcullis-decision': 'rate_limited', 'retry-after': '2' });
    assert.equal(
      d.message,
      'Portcullis denied this request: Slow down. Retry after 1.2 s. [rate_limited; policy abcdef012345]',
    );
    assert.equal(denialError(refusal(200, 'odd', 'x'), 'r').status, 403, 'a denial is never a success');
  });
});
