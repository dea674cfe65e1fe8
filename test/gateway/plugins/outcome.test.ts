// The frozen call record audit and metrics read: outcome, stripped tools, denied tool calls, latency
// and cost decided once, from the call's slots.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { callRecord } from '../../../src/gateway/outcome.ts';
import { usageOf } from '../../../src/gateway/usage.ts';
import { fakeSnapshot } from '../fake-snapshot.ts';
import { ALLOW, testCall } from './call-fixture.ts';

const snapshot = fakeSnapshot({ upstream: 'http://127.0.0.1:9' });

describe('call record', () => {
  test('a refused tool call is recorded in deniedCalls and the call counts as blocked', () => {
    const call = testCall({ snapshot });
    call.decision = { ...ALLOW, stripTools: ['Bash'] };
    call.strippedTools = ['Bash'];
    call.outcome = 'forwarded';
    call.status = 403;
    call.upstreamStatus = 200;
    call.reportDeniedCall({ name: 'Bash', id: 'tu_1' });
    const record = callRecord(call);
    assert.deepEqual(record.tools, { stripped: ['Bash'], deniedCalls: ['Bash'] });
    assert.equal(record.outcome, 'blocked');
    assert.equal(record.errorCode, undefined);
    assert.ok(Object.isFrozen(record));
  });

  test('a stream cut by a response guardrail counts as blocked; a plain upstream 4xx as an error', () => {
    const cut = testCall({ snapshot });
    cut.decision = ALLOW;
    cut.outcome = 'forwarded';
    cut.status = 200;
    cut.reportFinding({
      rule: 'aws_access_key_id',
      type: 'secret',
      stage: 'response',
      path: 'content[0].text',
      action: 'block',
      fingerprint: 'f',
      chain: 'c',
      step: 0,
    });
    assert.equal(callRecord(cut).outcome, 'blocked');
    const failed = testCall({ snapshot });
    failed.decision = ALLOW;
    failed.outcome = 'forwarded';
    failed.status = 429;
    assert.deepEqual([callRecord(failed).outcome, callRecord(failed).errorCode], ['error', 'upstream_429']);
  });

  test('latency and cost come from the usage computed once', () => {
    const call = testCall({ snapshot });
    call.decision = ALLOW;
    call.outcome = 'forwarded';
    call.status = 200;
    call.timings.forwarded = 0.5;
    call.timings.upstreamHeaders = 2;
    call.timings.end = 3;
    call.upstreamJson = {
      usage: { input_tokens: 1_000_000, output_tokens: 0, cache_creation_input_tokens: 1_000_000 },
    };
    call.usage = usageOf(call);
    const record = callRecord(call);
    // claude-sonnet-4-5 input at 3 USD/MTok; a cache write at 1.25× of that.
    assert.equal(record.costUsd, 3 + 3.75);
    assert.deepEqual(record.latency, { totalMs: 3, upstreamMs: 1.5, gatewayMs: 0.5 });
    assert.deepEqual(record.tokens, { input: 2_000_000, output: 0, cached: 0 });
  });
});
