import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CallTracer, tracerFromEnv } from '../../src/observability/tracing.ts';
import { makeRecord } from '../audit/helpers.ts';
import { JAEGER_BIN, type JaegerSpan, startJaeger } from './jaeger.ts';

const tag = (span: JaegerSpan, key: string) => span.tags.find((t) => t.key === key)?.value;

describe('call traces exported over OTLP into a real Jaeger', {
  skip: JAEGER_BIN ? false : 'jaeger is not installed',
}, () => {
  test("a call's span joins the caller's trace, carries gen_ai.* and portcullis.* attributes, and its upstream span is what goes upstream", async (t) => {
    const jaeger = await startJaeger();
    t.after(() => jaeger.stop());
    const tracer = new CallTracer({ url: `${jaeger.otlpUrl}/v1/traces` });
    t.after(() => tracer.close());
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const started = Date.now() - 1000;
    const call = tracer.start(
      started,
      { traceparent: `00-${callerTrace}-${callerSpan}-01` },
      'anthropic.messages',
    );
    call.stage('decide', 3.5);
    const upstream = call.upstreamHeaders('anthropic', 4);
    assert.match(upstream.traceparent, new RegExp(`^00-${callerTrace}-[0-9a-f]{16}-01$`));
    const record = makeRecord(7, {
      time: new Date(started).toISOString(),
      costUsd: 0.0123,
      findings: [
        {
          action: 'redact',
          chain: 'default',
          fingerprint: 'fp-secret-hash',
          path: 'messages[0].content',
          rule: 'github-pat',
          stage: 'request',
          step: 0,
          type: 'secret',
        },
      ],
      decision: { allow: true, status: 200, code: 'ok', reasons: ['allowed by team platform'] },
    });
    call.end(record, { finishReasons: ['end_turn'], responseModel: 'claude-sonnet-4-20250514' });
    await tracer.flush();

    const spans = await jaeger.trace(callerTrace, 2);
    const server = spans.find((s) => s.references.some((r) => r.spanID === callerSpan));
    assert.ok(server, 'the gateway span is a child of the caller span');
    const client = spans.find((s) => s !== server);
    assert.ok(client);
    assert.equal(
      client.spanID,
      upstream.traceparent.split('-')[2],
      'the upstream traceparent names the client span',
    );
    assert.equal(client.references[0].spanID, server.spanID);
    assert.equal(server.operationName, 'chat claude-sonnet-4');
    assert.equal(tag(server, 'gen_ai.system'), 'anthropic');
    assert.equal(tag(server, 'gen_ai.request.model'), 'claude-sonnet-4');
    assert.equal(tag(server, 'gen_ai.response.model'), 'claude-sonnet-4-20250514');
    assert.equal(tag(server, 'gen_ai.usage.input_tokens'), 1007);
    assert.equal(tag(server, 'gen_ai.usage.output_tokens'), 200);
    assert.match(String(tag(server, 'gen_ai.response.finish_reasons')), /end_turn/);
    assert.equal(tag(server, 'portcullis.decision.code'), 'ok');
    assert.match(String(tag(server, 'portcullis.decision.reasons')), /allowed by team platform/);
    assert.equal(tag(server, 'portcullis.policy.revision'), record.policyRevision);
    assert.match(String(tag(server, 'portcullis.findings')), /github-pat:redact/);
    assert.equal(tag(server, 'portcullis.cost_usd'), 0.0123);
    // The span lasts as long as the call did, from its arrival.
    assert.equal(server.startTime, started * 1000);
    assert.equal(server.duration, record.latency.totalMs * 1000);
    // Never the fingerprint (nor the key, which the record does not hold).
    assert.doesNotMatch(JSON.stringify(spans), /fp-secret-hash/);
  });

  test('no OTEL configuration means no tracer at all', () => {
    assert.equal(tracerFromEnv({}), undefined);
    assert.equal(
      tracerFromEnv({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318' }),
      undefined,
    );
    assert.throws(() => tracerFromEnv({ OTEL_TRACES_EXPORTER: 'zipkin' }), /not supported/);
  });
});
