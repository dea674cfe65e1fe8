import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Attributes, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { encodeSpans } from '../../src/observability/otlp-spans.ts';
import { CallTracer } from '../../src/observability/tracing.ts';
import { makeRecord } from '../audit/helpers.ts';

/** Spans as the gateway's tracer builds them, caught before export. */
async function gatewaySpans(): Promise<ReadableSpan[]> {
  const caught: ReadableSpan[] = [];
  const exporter: SpanExporter = {
    export(spans, done) {
      caught.push(...spans);
      done({ code: 0 });
    },
    shutdown: async () => {},
  };
  const tracer = new CallTracer({ exporter });
  const calls = [
    {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'vendor=a,other=b',
    },
    {},
    { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  ];
  for (const [i, incoming] of calls.entries()) {
    const started = Date.now() - 1000 * i - 0.123;
    const trace = tracer.start(started, incoming, i === 1 ? 'openai.chat' : 'anthropic.messages');
    for (const stage of ['facts', 'route', 'reserve', 'inspect', 'decide', 'rewrite'])
      trace.stage(stage, 0.25 * i + 1 / 3);
    trace.upstreamHeaders('anthropic', 4);
    trace.end(
      makeRecord(i, {
        model: i === 2 ? 'modèle-🚀-'.repeat(30) : 'claude-sonnet-4',
        costUsd: i * 0.0123,
        outcome: i === 2 ? 'error' : 'allowed',
        errorCode: i === 2 ? 'upstream_unreachable' : undefined,
        tokens: { input: 2 ** 40 + i, output: i, cached: 0 },
        findings:
          i === 0
            ? [
                {
                  action: 'redact',
                  chain: 'default',
                  fingerprint: 'f',
                  path: 'p',
                  rule: 'email',
                  stage: 'request',
                  step: 0,
                  type: 'pii',
                },
              ]
            : [],
        tools: { stripped: i === 0 ? ['Bash', 'WebFetch'] : [], deniedCalls: [] },
        decision: {
          allow: true,
          status: 200,
          code: 'ok',
          reasons: i === 0 ? ['allowed by team platform', 'x'.repeat(300)] : [],
        },
      }),
      { finishReasons: ['end_turn'], responseModel: i === 0 ? 'claude-sonnet-4-20250514' : undefined },
    );
  }
  await tracer.flush();
  await tracer.close();
  return caught;
}

test("the span encoder writes exactly the bytes of the SDK's OTLP serializer", async () => {
  const spans = await gatewaySpans();
  assert.equal(spans.length, 6);
  assert.deepEqual(
    Buffer.from(encodeSpans(spans)),
    Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) ?? []),
  );
});

test('spans of several resources and scopes, and every kind of attribute value, encode as the SDK encodes them', () => {
  const base = (name: string, attributes: Attributes, over: Partial<ReadableSpan> = {}): ReadableSpan => {
    const ctx = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: 'b7ad6b7169203331', traceFlags: 0 };
    return {
      name,
      kind: SpanKind.INTERNAL,
      spanContext: () => ctx,
      parentSpanContext: undefined,
      startTime: [4_102_444_800, 999_999_999],
      endTime: [4_102_444_801, 1],
      duration: [1, 2],
      status: { code: SpanStatusCode.ERROR, message: 'é'.repeat(200) },
      attributes,
      links: [],
      events: [],
      ended: true,
      resource: r1,
      instrumentationScope: { name: 'a' },
      droppedAttributesCount: 3,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
      ...over,
    };
  };
  const r1 = resourceFromAttributes({ 'service.name': 'x', n: 1.5 });
  const r2 = resourceFromAttributes({ 'service.name': 'y', list: ['a', 'b'] });
  const scope = { name: 'b', version: '2' };
  const spans = [
    base('a', {
      neg: -5,
      big: 2 ** 62,
      small: -(2 ** 40),
      half: 0.5,
      nan: Number.NaN,
      t: true,
      f: false,
      empty: '',
      numbers: [1, 2.5, -3],
    }),
    base(
      'b',
      { ['k'.repeat(200)]: 'v'.repeat(20_000) },
      { resource: r2, instrumentationScope: scope, kind: SpanKind.CLIENT },
    ),
    base('c', {}, { instrumentationScope: scope, kind: SpanKind.PRODUCER }),
  ];
  assert.deepEqual(
    Buffer.from(encodeSpans(spans)),
    Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) ?? []),
  );
  // What it does not encode goes to the SDK's serializer whole.
  for (const odd of [
    base('d', {}, { events: [{ name: 'e', time: [1, 2], attributes: { a: 1 } }] }),
    base('e', { holes: ['a', null, 'b'] }),
  ]) {
    const batch = [...spans, odd];
    assert.deepEqual(
      Buffer.from(encodeSpans(batch)),
      Buffer.from(ProtobufTraceSerializer.serializeRequest(batch) ?? []),
    );
  }
});
