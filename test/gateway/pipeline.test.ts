import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Call } from '../../src/gateway/call.ts';
import { fakeSnapshot, KEYS } from './fake-snapshot.ts';
import { call, startStack } from './harness.ts';

const auth = { authorization: `Bearer ${KEYS.good}` };
const chat = { model: 'gpt-5', messages: [{ role: 'user', content: 'my password is hunter2' }] };

describe('pipeline plugins', () => {
  test('run in stage order on one call; a rewrite replaces the body; settlements and audit see the outcome', async () => {
    const seen: string[] = [];
    const settled: Call[] = [];
    const s = await startStack({
      plugins: [
        {
          name: 'probe',
          reserve(call) {
            seen.push(`reserve:${call.input.model}`);
            return {
              usage: {
                budgets: [
                  {
                    id: 'key:good:monthly',
                    scope: 'key',
                    owner: 'good',
                    period: 'monthly',
                    limitUsd: 10,
                    usedUsd: 1,
                    requestUsd: 0.5,
                  },
                ],
                rateLimits: [],
              },
              reservation: {
                async settle(done) {
                  seen.push(`settle:${done.outcome}`);
                  settled.push(done);
                },
              },
            };
          },
          async inspect() {
            seen.push('inspect');
            return undefined;
          },
          rewrite(call, decision) {
            seen.push(`rewrite:${decision.code}`);
            const body = call.body as { messages: { content: string }[] };
            const content = body.messages[0].content.replace('hunter2', '[REDACTED:password]');
            return { body: { ...body, messages: [{ ...body.messages[0], content }] } };
          },
          respond() {
            seen.push('respond');
            return {
              stream: (next) => ({
                write: (data) => next.write(String(data).toUpperCase()),
                flush: () => next.flush(),
                end: (data) => next.end(data === undefined ? undefined : String(data).toUpperCase()),
                fail: (err) => next.fail(err),
              }),
            };
          },
          audit(record) {
            seen.push(`audit:${record.outcome}`);
          },
        },
      ],
    });
    try {
      const r = await call(s.url, '/v1/chat/completions', chat, auth);
      assert.equal(r.status, 200);
      assert.match(r.text, /"OBJECT":"CHAT.COMPLETION"/);
      const forwarded = s.sim.last('/v1/chat/completions')!.body as typeof chat;
      assert.equal(forwarded.messages[0].content, 'my password is [REDACTED:password]');
      assert.equal(s.snapshot.inputs.at(-1)!.usage.budgets[0].id, 'key:good:monthly');
      for (let i = 0; i < 20 && seen.length < 6; i++) await new Promise((res) => setTimeout(res, 10));
      assert.deepEqual(seen, [
        'reserve:gpt-5',
        'inspect',
        'rewrite:ok',
        'respond',
        'settle:forwarded',
        'audit:allowed',
      ]);
      assert.equal(settled[0].usage?.outputTokens, 16);
      assert.equal(settled[0].status, 200);

      seen.length = 0;
      await call(s.url, '/v1/chat/completions', chat, { authorization: `Bearer ${KEYS.limited}` });
      for (let i = 0; i < 20 && seen.length < 4; i++) await new Promise((res) => setTimeout(res, 10));
      assert.deepEqual(seen, ['reserve:gpt-5', 'inspect', 'settle:denied', 'audit:denied']);
    } finally {
      await s.close();
    }
  });

  test('a plugin can refuse the call before the decision (e.g. the counter store is down)', async () => {
    const s = await startStack({
      plugins: [
        {
          name: 'refuser',
          reserve() {
            return {
              refusal: {
                decision: {
                  allow: false,
                  status: 503,
                  code: 'limits_unavailable',
                  reasons: ['Budgets cannot be checked right now.'],
                  redact: [],
                  stripTools: [],
                },
              },
            };
          },
        },
      ],
    });
    try {
      const r = await call(
        s.url,
        '/v1/messages',
        { model: 'claude-sonnet-4-5', max_tokens: 5 },
        { 'x-api-key': KEYS.good },
      );
      assert.equal(r.status, 503);
      assert.match(r.json().error.message, /Budgets cannot be checked/);
      assert.equal(s.sim.requests.length, 0);
      assert.equal(s.snapshot.inputs.length, 0);
    } finally {
      await s.close();
    }
  });
});

describe('snapshots', () => {
  test('before any snapshot: not ready, inference refused with 503', async () => {
    const s = await startStack({ noSnapshot: true });
    try {
      assert.equal((await call(s.url, '/healthz', undefined, {}, 'GET')).status, 200);
      const ready = await call(s.url, '/readyz', undefined, {}, 'GET');
      assert.equal(ready.status, 503);
      const r = await call(s.url, '/v1/messages', { model: 'claude-sonnet-4-5' }, { 'x-api-key': KEYS.good });
      assert.equal(r.status, 503);
      assert.equal(r.json().type, 'error');
      s.gw.holder.swap(s.snapshot);
      const now = await call(s.url, '/readyz', undefined, {}, 'GET');
      assert.equal(now.status, 200);
      assert.equal(now.json().revision, s.snapshot.revision);
      const status = (await call(s.url, '/status', undefined, {}, 'GET')).json();
      assert.equal(status.policy.revision, s.snapshot.revision);
      assert.deepEqual(status.policy.providers, ['openai', 'anthropic', 'google']);
    } finally {
      await s.close();
    }
  });

  test('a request keeps the snapshot it started with across a swap', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let holding = true;
    const s = await startStack({
      plugins: [
        {
          name: 'holder',
          async reserve() {
            if (holding) {
              holding = false;
              await held;
            }
            return undefined;
          },
        },
      ],
    });
    try {
      const next = fakeSnapshot({ upstream: s.sim.url, revision: 'next111111111111' });
      const event = s.nextEvent();
      const inFlight = call(s.url, '/v1/chat/completions', chat, auth);
      while (holding) await new Promise((r) => setTimeout(r, 5));
      s.gw.holder.swap(next);
      release();
      assert.equal((await inFlight).status, 200);
      assert.equal((await event).revision, s.snapshot.revision);
      assert.equal(s.snapshot.inputs.length, 1);
      assert.equal(next.inputs.length, 0);
      const after = s.nextEvent();
      await call(s.url, '/v1/chat/completions', chat, auth);
      assert.equal((await after).revision, 'next111111111111');
      assert.equal(next.inputs.length, 1);
    } finally {
      await s.close();
    }
  });
});
