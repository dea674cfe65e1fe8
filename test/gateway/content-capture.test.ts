// The stored copies of content logging: bounded, and redacted whatever the key's chain found, even
// when the response capture stops in the middle of a credential.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import { Call } from '../../src/gateway/call.ts';
import {
  bounded,
  MAX_CAPTURE_CHARS,
  MAX_CONTENT_CHARS,
  ResponseCapture,
  requestContent,
  responseContent,
} from '../../src/gateway/plugins/content-capture.ts';
import type { DecisionInput } from '../../src/policy/decision.ts';
import { adapters } from '../../src/providers/index.ts';
import { fakeSnapshot } from './fake-snapshot.ts';

function fakeAwsKey(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let s = 'AKIA';
  for (let i = 0; i < 16; i++) s += alphabet[randomInt(alphabet.length)];
  return s;
}

function context(): Call {
  const ctx = new Call(
    'req-1',
    fakeSnapshot({ upstream: 'http://127.0.0.1:9' }),
    'anthropic.messages',
    'anthropic',
    adapters.anthropic,
  );
  ctx.input = { guardrails: { findings: [] } } as unknown as DecisionInput;
  return ctx;
}

const delta = (text: string) =>
  `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })}\n\n`;

describe('content logging copies', () => {
  test('long text keeps its head and tail around a marker, within the bound', () => {
    const text = `HEAD${'x'.repeat(MAX_CONTENT_CHARS * 2)}TAIL`;
    const out = bounded(text);
    assert.ok(out.startsWith('HEAD') && out.endsWith('TAIL'));
    assert.match(out, /…\[TRUNCATED \d+ chars\]…/);
    assert.ok(out.length < MAX_CONTENT_CHARS + 40);
    assert.equal(bounded('short'), 'short');
  });

  test('the request copy is redacted without any chain, and with the chain’s own findings at their offsets', async () => {
    const secret = fakeAwsKey();
    const ctx = context();
    const prompt = `key ${secret}, ticket SEC-4411, mail lena.brandt@fastmail.com`;
    ctx.body = { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: prompt }] };
    let stored = JSON.parse((await requestContent(ctx)) ?? '{}');
    assert.equal(
      stored.messages[0].content,
      'key [REDACTED:aws_access_key_id], ticket SEC-4411, mail [REDACTED:email]',
    );

    // A custom rule of the key's chain (only logged) is redacted in the copy too.
    const at = prompt.indexOf('SEC-4411');
    ctx.scan = {
      findings: [
        {
          rule: 'ticket',
          type: 'custom',
          stage: 'request',
          path: 'messages[0].content',
          action: 'log',
          fingerprint: 'f',
          chain: 'c',
          step: 0,
          start: at,
          end: at + 8,
        },
      ],
      body: ctx.body as Record<string, unknown>,
    };
    ctx.body = { replaced: true };
    stored = JSON.parse((await requestContent(ctx)) ?? '{}');
    assert.equal(
      stored.messages[0].content,
      'key [REDACTED:aws_access_key_id], ticket [REDACTED:ticket], mail [REDACTED:email]',
    );
  });

  test('a streamed answer cut by the capture bound never keeps the start of a credential', async () => {
    const ctx = context();
    ctx.tracker = adapters.anthropic.streamTracker('anthropic.messages', { hideUsageChunk: false });
    const early = fakeAwsKey();
    const late = fakeAwsKey();
    const events = [delta(`first ${early} then `)];
    const filler = 'word '.repeat(200);
    let fed = `first ${early} then `.length;
    while (fed + filler.length < MAX_CAPTURE_CHARS - 10) {
      events.push(delta(filler));
      fed += filler.length;
    }
    events.push(delta(' '.repeat(MAX_CAPTURE_CHARS - 10 - fed)));
    for (const piece of late.match(/.{1,4}/g) ?? []) events.push(delta(piece));
    const capture = new ResponseCapture(ctx);
    const out: string[] = [];
    let ended = false;
    const sink = capture.stream({
      write: (data) => out.push(String(data)),
      flush() {},
      end: (data) => {
        if (data !== undefined) out.push(String(data));
        ended = true;
      },
      fail: () => assert.fail('the capture never cuts a stream'),
    });
    for (const e of events) sink.write(Buffer.from(e));
    sink.end();
    assert.ok(ended);
    assert.equal(out.join(''), events.join(''), 'the client gets every byte');
    assert.ok(capture.cut);

    const stored = (await responseContent(ctx, capture)) ?? '';
    assert.ok(stored.startsWith('first [REDACTED:aws_access_key_id] then '));
    assert.ok(stored.endsWith('…[TRUNCATED]'));
    assert.ok(!stored.includes(early));
    assert.ok(!stored.includes(late.slice(0, 8)), 'no prefix of the cut credential is stored');
    assert.ok(stored.length <= MAX_CONTENT_CHARS + 40);
  });
});
