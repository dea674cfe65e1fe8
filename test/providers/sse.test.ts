import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type SseEvent, SseParser } from '../../src/providers/sse.ts';

function parseIn(pieces: string[]): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (const piece of pieces) p.push(Buffer.from(piece), out);
  p.end(out);
  return out;
}

const STREAM =
  'event: message_start\ndata: {"a":1}\n\n' +
  ': keep-alive comment\n\n' +
  'data: line one\ndata: line two\n\n' +
  'event: ping\r\ndata: {"type":"ping"}\r\n\r\n' +
  'event: cr\rdata:no space\rdata\r\r' +
  'data: {"text":"héllo ✓"}\n\n';

describe('SseParser', () => {
  test('reads events, multi-line data, comments, CRLF and lone CR', () => {
    const events = parseIn([STREAM]);
    assert.deepEqual(
      events.map((e) => [e.event, e.data]),
      [
        ['message_start', '{"a":1}'],
        ['', 'line one\nline two'],
        ['ping', '{"type":"ping"}'],
        ['cr', 'no space\n'],
        ['', '{"text":"héllo ✓"}'],
      ],
    );
  });

  test('gives the same events whatever the chunk boundaries, multi-byte characters included', () => {
    const whole = parseIn([STREAM]);
    const bytes = Buffer.from(STREAM);
    for (let cut = 1; cut < bytes.length; cut++) {
      const p = new SseParser();
      const out: SseEvent[] = [];
      p.push(bytes.subarray(0, cut), out);
      p.push(bytes.subarray(cut), out);
      p.end(out);
      assert.deepEqual(out, whole, `split at byte ${cut}`);
    }
    const p = new SseParser();
    const out: SseEvent[] = [];
    for (const b of bytes) p.push(Buffer.from([b]), out);
    p.end(out);
    assert.deepEqual(out, whole);
  });

  test('raw text of the events reassembles the stream exactly', () => {
    const events = parseIn([STREAM.slice(0, 17), STREAM.slice(17)]);
    const rawJoined = events.map((e) => e.raw).join('');
    // The comment-only block is not an event; everything else is kept byte for byte.
    assert.equal(rawJoined, STREAM.replace(': keep-alive comment\n\n', ''));
  });

  test('an unterminated last event is still delivered at the end', () => {
    const events = parseIn(['data: {"x":1}\n\ndata: {"y":2}']);
    assert.deepEqual(
      events.map((e) => e.data),
      ['{"x":1}', '{"y":2}'],
    );
  });

  test('holds back an incomplete event until it completes', () => {
    const p = new SseParser();
    const out: SseEvent[] = [];
    p.push(Buffer.from('data: {"par'), out);
    assert.equal(out.length, 0);
    assert.equal(p.pending(), 'data: {"par');
    p.push(Buffer.from('tial":true}\n\n'), out);
    assert.equal(out.length, 1);
    assert.equal(out[0].data, '{"partial":true}');
  });
});
