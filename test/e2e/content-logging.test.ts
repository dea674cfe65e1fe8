// Content logging through `portcullis serve`: a key whose policy turns it on leaves the prompt and the
// answer in its audit records, every credential and personal datum redacted even when its chain only
// logs them; a key without it leaves no content at all.

import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AuditRecord } from '../../src/audit/index.ts';
import { generateVirtualKey, hashVirtualKey } from '../../src/cli/keys.ts';
import type { Simulator } from '../../src/simulator/server.ts';
import { fakeAwsKey } from '../fixtures/fake-credentials.ts';
import {
  auditCli,
  e2ePolicy,
  type GatewayProcess,
  killAll,
  METERED_MODEL,
  post,
  startGateway,
  startSimulator,
} from './helpers.ts';

/** A personal address in a real mail domain (reserved domains are not personal data). */
function fakeEmail(): string {
  return `dana.whitfield${randomInt(1000, 9999)}@fastmail.com`;
}

const LOG_CHAIN = {
  apiVersion: 'portcullis.dev/v1',
  kind: 'GuardrailChain',
  metadata: { name: 'log-only' },
  spec: {
    steps: [
      { detector: 'secrets', stage: 'request', action: 'log' },
      { detector: 'pii', stage: 'request', action: 'log', types: ['email'] },
    ],
  },
};

function keyDoc(id: string, key: string, contentLogging: boolean) {
  return {
    apiVersion: 'portcullis.dev/v1',
    kind: 'VirtualKey',
    metadata: { name: id },
    spec: {
      owner: `${id}@acme.example`,
      team: 'app-dev',
      keyHash: `sha256:${hashVirtualKey(key)}`,
      models: [METERED_MODEL, 'gemini-2.5-flash'],
      guardrailChain: 'log-only',
      contentLogging,
    },
  };
}

function records(dataDir: string): AuditRecord[] {
  const q = auditCli(['query', '--data-dir', dataDir, '--limit', '0', '--oldest-first', '--json']);
  assert.equal(q.status, 0, q.stderr);
  return q.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l).record as AuditRecord);
}

const anthropic = (key: string, id: string, extra: Record<string, string> = {}) => ({
  'x-api-key': key,
  'anthropic-version': '2023-06-01',
  'x-request-id': id,
  ...extra,
});

describe('content logging through portcullis serve', { timeout: 120_000 }, () => {
  let sim: Simulator;
  let gw: GatewayProcess;
  const logged = generateVirtualKey();
  const plain = generateVirtualKey();
  const secret = fakeAwsKey();
  const email = fakeEmail();
  const replyEmail = fakeEmail();
  const prompt = `Deploy with AWS key ${secret} and mail the report to ${email} please.`;
  const answer = `Done. I sent the report to ${replyEmail} as asked.`;
  let all: AuditRecord[] = [];

  before(async () => {
    const s = await startSimulator({ historySize: 10 });
    sim = s.sim;
    const policy = e2ePolicy([]);
    writeFileSync(join(policy.dir, 'guardrails', 'log-only.yaml'), `${JSON.stringify(LOG_CHAIN)}\n`);
    writeFileSync(
      join(policy.dir, 'keys', 'e2e.yaml'),
      `${JSON.stringify(keyDoc('e2e-content', logged, true))}\n---\n${JSON.stringify(keyDoc('e2e-plain', plain, false))}\n`,
    );
    gw = await startGateway({ policyDir: policy.dir, simUrl: s.url });

    const body = (stream: boolean) => ({
      model: METERED_MODEL,
      max_tokens: 200,
      stream,
      messages: [{ role: 'user', content: prompt }],
    });
    const sim200 = { 'x-sim-text': encodeURIComponent(answer) };
    const calls = [
      post(gw.url, '/v1/messages', body(false), anthropic(logged, 'content-json', sim200)),
      post(
        gw.url,
        '/v1/messages',
        body(true),
        anthropic(logged, 'content-stream', { ...sim200, 'x-sim-chunk-chars': '6' }),
      ),
      post(gw.url, '/v1/messages', body(false), anthropic(plain, 'content-none', sim200)),
      // Gemini streamed without alt=sse: one JSON array of chunks.
      post(
        gw.url,
        '/v1beta/models/gemini-2.5-flash:streamGenerateContent',
        { contents: [{ role: 'user', parts: [{ text: prompt }] }] },
        { 'x-goog-api-key': logged, 'x-request-id': 'content-gemini-array', ...sim200 },
      ),
    ];
    for (const res of await Promise.all(calls)) assert.equal(res.status, 200, res.text);
    // A `log` step forwards the credential: only the stored copy is redacted.
    assert.ok(JSON.stringify(sim.last('/v1/messages')?.body).includes(secret));
    assert.equal(await gw.stop(), 0, gw.output());
    all = records(gw.dataDir);
  });

  after(async () => {
    await gw?.stop();
    await sim?.close();
    killAll();
  });

  const byId = (id: string) => {
    const r = all.find((x) => x.requestId === id);
    assert.ok(r, `record ${id} among ${all.map((x) => x.requestId).join(', ')}`);
    return r;
  };

  test('the stored prompt has the credential and the address redacted although the chain only logs them', () => {
    for (const id of ['content-json', 'content-stream']) {
      const r = byId(id);
      const request = r.content?.request ?? '';
      const sent = JSON.parse(request);
      assert.equal(sent.model, METERED_MODEL);
      assert.equal(
        sent.messages[0].content,
        'Deploy with AWS key [REDACTED:aws_access_key_id] and mail the report to [REDACTED:email] please.',
      );
      assert.deepEqual(
        r.findings.map((f) => [f.rule, f.action]),
        [
          ['aws_access_key_id', 'log'],
          ['email', 'log'],
        ],
      );
    }
    const stored = JSON.stringify(all);
    assert.ok(!stored.includes(secret), 'the credential is nowhere in the audit log');
    assert.ok(!stored.includes(email) && !stored.includes(replyEmail), 'nor the addresses');
  });

  test('the answer is stored redacted: the non-streamed body, and the streamed text joined', () => {
    const json = JSON.parse(byId('content-json').content?.response ?? '{}');
    assert.equal(json.content[0].text, 'Done. I sent the report to [REDACTED:email] as asked.');
    assert.equal(
      byId('content-stream').content?.response,
      'Done. I sent the report to [REDACTED:email] as asked.',
    );
    const chunks = byId('content-gemini-array').content?.response ?? '';
    assert.match(chunks, /\[REDACTED:email\]/);
    assert.ok(!chunks.includes(replyEmail));
  });

  test('a key without content logging leaves no content in its record', () => {
    const r = byId('content-none');
    assert.equal(r.outcome, 'allowed');
    assert.equal(r.content, undefined);
  });
});
