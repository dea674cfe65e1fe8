// The seams of the stages other parts build on: an authenticator before the virtual keys, and stage
// boundaries reported to observing plugins in order.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Authenticator } from '../../src/gateway/authenticate.ts';
import type { Stage } from '../../src/gateway/plugin.ts';
import { KEYS } from './fake-snapshot.ts';
import { call, startStack } from './harness.ts';

const chat = { model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] };

describe('stages', () => {
  test('an authenticator recognises its own credential; others fall through to the virtual keys', async () => {
    const personal: Authenticator = (snapshot, { headers }) => {
      if (headers.authorization !== 'Bearer personal-alice') return undefined;
      return { status: 'ok', key: snapshot.keys.get('good')! };
    };
    const s = await startStack({ authenticators: [personal] });
    try {
      const ev = s.nextEvent();
      assert.equal(
        (await call(s.url, '/v1/chat/completions', chat, { authorization: 'Bearer personal-alice' })).status,
        200,
      );
      assert.equal((await ev).keyId, 'good');
      assert.equal(
        (await call(s.url, '/v1/chat/completions', chat, { authorization: `Bearer ${KEYS.good}` })).status,
        200,
      );
      assert.equal(
        (await call(s.url, '/v1/chat/completions', chat, { authorization: 'Bearer nobody' })).status,
        401,
      );
    } finally {
      await s.close();
    }
  });

  test('observers see every stage boundary in order, with growing times', async () => {
    const seen: [Stage, number][] = [];
    const s = await startStack({
      plugins: [{ name: 'tracer', observe: (_call, e) => seen.push([e.stage, e.at]) }],
    });
    try {
      const ev = s.nextEvent();
      assert.equal(
        (await call(s.url, '/v1/chat/completions', chat, { authorization: `Bearer ${KEYS.good}` })).status,
        200,
      );
      await ev;
      for (let i = 0; i < 20 && seen.length < 8; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(
        seen.map(([stage]) => stage),
        ['authenticate', 'facts', 'decide', 'rewrite', 'forward', 'settle', 'audit'],
      );
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i][1] >= seen[i - 1][1], JSON.stringify(seen));
    } finally {
      await s.close();
    }
  });
});
