// An upstream that resets the connection, before its answer or half-way through it, on each surface:
// the client gets a 502 in the surface's format when nothing was sent yet (non-streamed answers are
// held until whole), or the surface's error event at the end of a stream; and a call the provider
// started to answer is billed from what was received, input estimated when it was never reported.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import type { AuditRecord } from '../../src/audit/index.ts';
import { auditCli, killAll, startGateway } from '../e2e/helpers.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';

after(killAll);

/** An upstream that answers as the request's `x-mode` says: `before` resets at once, `during` after part of the answer. */
function resettingUpstream(): Promise<{ url: string; close(): void }> {
  const server = net.createServer((s) => {
    let head = '';
    s.on('error', () => {});
    s.on('data', (c) => {
      head += c;
      if (!head.includes('\r\n\r\n')) return;
      s.removeAllListeners('data');
      s.on('data', () => {});
      if (/x-mode: before/i.test(head)) return void s.resetAndDestroy();
      const streamed = /"stream":\s*true/.test(head) || /streamGenerateContent/.test(head);
      if (streamed) {
        const event = /\/v1\/messages/.test(head)
          ? 'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":12,"output_tokens":1}}}\n\n'
          : 'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n';
        s.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n');
        s.write(`${Buffer.byteLength(event).toString(16)}\r\n${event}\r\n`);
      } else {
        s.write(
          'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n{"id":"x","outp',
        );
      }
      setTimeout(() => s.resetAndDestroy(), 50);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
        close: () => server.close(),
      }),
    ),
  );
}

const SURFACES = (key: string) => [
  {
    name: 'openai.chat',
    path: '/v1/chat/completions',
    body: (stream: boolean) => ({ model: 'gpt-5', stream, messages: [{ role: 'user', content: 'hi' }] }),
    headers: { authorization: `Bearer ${key}` },
    streamError: /^data: \{"error":\{"message":"Portcullis: provider openai could not be reached/m,
    held502: (j: { error: { code: string } }) => j.error.code === 'upstream_unreachable',
  },
  {
    name: 'openai.responses',
    path: '/v1/responses',
    body: (stream: boolean) => ({ model: 'gpt-5', stream, input: 'hi' }),
    headers: { authorization: `Bearer ${key}` },
    streamError: /event: response\.failed\ndata: .*could not be reached/,
    held502: (j: { error: { code: string } }) => j.error.code === 'upstream_unreachable',
  },
  {
    name: 'anthropic.messages',
    path: '/v1/messages',
    body: (stream: boolean) => ({
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      stream,
      messages: [{ role: 'user', content: 'hi' }],
    }),
    headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01' },
    streamError:
      /event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"Portcullis: provider anthropic could not be reached/,
    held502: (j: { type: string; error: { type: string } }) =>
      j.type === 'error' && j.error.type === 'api_error',
  },
  {
    name: 'gemini.generate',
    path: '/v1beta/models/gemini-2.5-flash:generateContent',
    streamPath: '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
    body: () => ({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
    headers: { 'x-goog-api-key': key },
    streamError: /^data: \{"error":\{"code":502,.*could not be reached/m,
    held502: (j: { error: { code: number; status: string } }) => j.error.code === 502,
  },
];

test('upstream reset before and during the answer, on each surface: 502 or the surface error event, and usage billed', async () => {
  const up = await resettingUpstream();
  const { dir, keys } = examplePolicyCopy();
  const gw = await startGateway({ policyDir: dir, simUrl: up.url });
  const served: string[] = [];
  try {
    for (const s of SURFACES(keys.principal)) {
      for (const mode of ['before', 'during']) {
        for (const stream of [false, true]) {
          const path = stream && s.streamPath ? s.streamPath : s.path;
          const res = await fetch(gw.url + path, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-mode': mode, ...s.headers },
            body: JSON.stringify(s.body(stream)),
          });
          const text = await res.text();
          const what = `${s.name} ${mode} ${stream ? 'streamed' : 'held'}`;
          if (stream && mode === 'during') {
            assert.equal(res.status, 200, what);
            assert.match(text, s.streamError, `${what}: ${text}`);
            served.push(res.headers.get('x-request-id') as string);
          } else {
            assert.equal(res.status, 502, `${what}: ${text}`);
            assert.ok(s.held502(JSON.parse(text)), `${what}: ${text}`);
            if (mode === 'during') served.push(res.headers.get('x-request-id') as string);
          }
        }
      }
    }
  } finally {
    await gw.stop();
    up.close();
  }
  const q = auditCli(['query', '--data-dir', gw.dataDir, '--limit', '0', '--json']);
  const records = new Map(
    q.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l).record as AuditRecord)
      .map((r) => [r.requestId, r]),
  );
  for (const id of served) {
    const r = records.get(id);
    assert.ok(r, `call ${id} has its record`);
    assert.equal(r.outcome, 'error');
    assert.ok(
      r.tokens.input > 0 && r.costUsd > 0,
      `${r.surface}: billed ${JSON.stringify(r.tokens)} ${r.costUsd}`,
    );
  }
});
