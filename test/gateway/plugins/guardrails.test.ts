// The guardrails plugin on its own: what its inspect, rewrite and respond stages return for a key
// whose chain redacts credentials in requests and blocks them in responses.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createGuardrailsPlugin } from '../../../src/gateway/plugins/guardrails.ts';
import type { PolicyDocument } from '../../../src/policy/snapshot.ts';
import { randomFrom } from '../../guardrails/fakes.ts';
import { fakeSnapshot } from '../fake-snapshot.ts';
import { ALLOW, testCall } from './call-fixture.ts';

const aws = () => `AKIA${randomFrom('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`;
const logger = { warn() {}, error() {} };

function snapshotWithChain(steps: unknown[]) {
  const snapshot = fakeSnapshot({ upstream: 'http://127.0.0.1:9' });
  const chain = {
    apiVersion: 'portcullis.dev/v1',
    kind: 'GuardrailChain',
    metadata: { name: 'unit' },
    spec: { steps },
  } as unknown as PolicyDocument;
  (snapshot as { documents: unknown }).documents = new Map([['GuardrailChain', new Map([['unit', chain]])]]);
  const key = { ...snapshot.keys.get('good')!, guardrailChain: 'unit' };
  return { snapshot, key };
}

const ask = (text: string) => ({
  model: 'claude-sonnet-4-5',
  max_tokens: 5,
  messages: [{ role: 'user', content: text }],
});

describe('guardrails plugin', () => {
  test('inspect returns request findings for the policy and the scan for later stages; never a decision', async () => {
    const { snapshot, key } = snapshotWithChain([
      { detector: 'secrets', action: 'redact', stage: 'request' },
    ]);
    const plugin = createGuardrailsPlugin({ logger });
    const secret = aws();
    const call = testCall({ snapshot, key, body: ask(`use ${secret}`) });
    const r = await plugin.inspect!(call);
    assert.equal(r?.refusal, undefined);
    assert.equal(r?.findings?.length, 1);
    const finding = r!.findings![0];
    assert.equal(finding.rule, 'aws_access_key_id');
    assert.equal(finding.path, 'messages[0].content');
    assert.equal('start' in finding, false, 'the policy sees no offsets');
    assert.equal(r?.scan?.findings[0].start, 4);
    assert.equal(call.decision, null);
    assert.equal(call.findings.length, 0, 'the pipeline, not the plugin, records findings');
  });

  test('rewrite redacts exactly the findings the decision lists, as a new body', async () => {
    const { snapshot, key } = snapshotWithChain([
      { detector: 'secrets', action: 'redact', stage: 'request' },
    ]);
    const plugin = createGuardrailsPlugin({ logger });
    const body = ask(`use ${aws()}`);
    const call = testCall({ snapshot, key, body });
    const r = await plugin.inspect!(call);
    call.scan = r!.scan!;
    assert.equal(await plugin.rewrite!(call, ALLOW), undefined, 'nothing listed, nothing edited');
    const edit = await plugin.rewrite!(call, { ...ALLOW, redact: [r!.findings![0].fingerprint] });
    assert.ok(edit !== undefined);
    const content = (edit.body as ReturnType<typeof ask>).messages[0].content;
    assert.equal(content, 'use [REDACTED:aws_access_key_id]');
    assert.notEqual(edit.body, body);
    assert.match(body.messages[0].content, /AKIA/, 'the body as received is left alone');
  });

  test('respond: a filter only when the chain has a response step or a tool is denied', () => {
    const plugin = createGuardrailsPlugin({ logger });
    const req = snapshotWithChain([{ detector: 'secrets', action: 'block', stage: 'request' }]);
    const call = testCall({ snapshot: req.snapshot, key: req.key });
    call.decision = ALLOW;
    assert.equal(plugin.respond!(call), undefined);
    call.decision = { ...ALLOW, stripTools: ['Bash'] };
    assert.ok(plugin.respond!(call) !== undefined);
    const res = snapshotWithChain([{ detector: 'secrets', action: 'block', stage: 'response' }]);
    const answered = testCall({ snapshot: res.snapshot, key: res.key });
    answered.decision = ALLOW;
    assert.ok(plugin.respond!(answered)?.held !== undefined);
  });

  test('a blocked answer is replaced and its finding reported to the call, not to the decision', async () => {
    const { snapshot, key } = snapshotWithChain([
      { detector: 'secrets', action: 'block', stage: 'response' },
    ]);
    const plugin = createGuardrailsPlugin({ logger });
    const call = testCall({ snapshot, key });
    call.decision = ALLOW;
    call.status = 200;
    const filter = plugin.respond!(call)!;
    const answer = {
      type: 'message',
      role: 'assistant',
      content: [{ type: 'text', text: `here: ${aws()}` }],
      usage: { input_tokens: 1, output_tokens: 1 },
    };
    const out = await filter.held!(Buffer.from(JSON.stringify(answer)));
    assert.equal(call.status, 400);
    assert.equal(JSON.parse(out.toString()).error.type, 'invalid_request_error');
    assert.equal(call.findings.length, 1);
    assert.equal(call.findings[0].stage, 'response');
    assert.equal(call.decision, ALLOW);
  });

  test('a held answer is read whole: a credential in a block type no list knows still blocks it', async () => {
    const { snapshot, key } = snapshotWithChain([
      { detector: 'secrets', action: 'block', stage: 'response' },
    ]);
    const plugin = createGuardrailsPlugin({ logger });
    const call = testCall({ snapshot, key });
    call.decision = ALLOW;
    call.status = 200;
    const answer = {
      type: 'message',
      role: 'assistant',
      content: [
        { type: 'text', text: 'Running it now.' },
        { type: 'tool_use', id: 'tu_1', name: 'Deploy', input: { env: { AWS_ACCESS_KEY_ID: aws() } } },
        { type: 'artifact_2031', body: { files: [{ text: `key=${aws()}` }] } },
      ],
    };
    const out = await plugin.respond!(call)!.held!(Buffer.from(JSON.stringify(answer)));
    assert.equal(call.status, 400);
    assert.deepEqual(
      call.findings.map((f) => f.path),
      ['content[1].input.env.AWS_ACCESS_KEY_ID', 'content[2].body.files[0].text'],
    );
    assert.doesNotMatch(out.toString(), /AKIA/);
  });

  test('a denied tool call in a held answer is reported as a denied call (audit records it)', async () => {
    const snapshot = fakeSnapshot({ upstream: 'http://127.0.0.1:9' });
    const plugin = createGuardrailsPlugin({ logger });
    const call = testCall({ snapshot });
    call.decision = { ...ALLOW, stripTools: ['Bash'] };
    call.status = 200;
    const answer = {
      type: 'message',
      role: 'assistant',
      content: [{ type: 'tool_use', id: 'tu_1', name: 'Bash', input: { command: 'ls' } }],
    };
    await plugin.respond!(call)!.held!(Buffer.from(JSON.stringify(answer)));
    assert.equal(call.status, 403);
    assert.deepEqual(
      call.deniedCalls.map((c) => c.name),
      ['Bash'],
    );
  });
});
