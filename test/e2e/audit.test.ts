// The audit trail through a real `portcullis serve` process: one record per call, whatever its fate,
// with the facts `policy replay` needs and the policy revision; the chain verifies; a graceful
// shutdown under load loses no record.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { AuditRecord } from '../../src/audit/index.ts';
import {
  anthropicCall,
  auditCli,
  e2ePolicy,
  killAll,
  METERED_MODEL,
  post,
  startGateway,
  startSimulator,
} from './helpers.ts';

after(killAll);

function records(dataDir: string): AuditRecord[] {
  const q = auditCli(['query', '--data-dir', dataDir, '--limit', '0', '--oldest-first', '--json']);
  assert.equal(q.status, 0, q.stderr);
  return q.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l).record as AuditRecord);
}

test('records for allow, deny, stream, client abort and a bad key; the chain verifies; 500 calls → 500 records after SIGTERM', async () => {
  const { sim, url: simUrl } = await startSimulator();
  const policy = e2ePolicy([{ id: 'e2e-audit' }]);
  const key = policy.keys['e2e-audit'];
  const gw = await startGateway({ policyDir: policy.dir, simUrl, env: { PORTCULLIS_INSTANCE: 'gw-e2e-1' } });
  let revision = '';
  try {
    revision = ((await (await fetch(`${gw.url}/readyz`)).json()) as { revision: string }).revision;

    const allowed = await post(
      gw.url,
      '/v1/messages',
      {
        model: METERED_MODEL,
        max_tokens: 1000,
        tools: [{ name: 'Read', description: 'read a file', input_schema: { type: 'object' } }],
        messages: [{ role: 'user', content: 'Say hello.' }],
      },
      {
        'x-api-key': key,
        'anthropic-version': '2023-06-01',
        'x-sim-output-tokens': '1000',
        'x-request-id': 'e2e-allow',
        'x-claude-code-session-id': 'session-42',
        'user-agent': 'claude-cli/2.0 (e2e)',
      },
    );
    assert.equal(allowed.status, 200, allowed.text);

    const denied = await post(
      gw.url,
      '/v1/messages',
      { model: 'claude-opus-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
      { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'x-request-id': 'e2e-deny' },
    );
    assert.equal(denied.status, 403, denied.text);

    const streamed = await anthropicCall(gw.url, key, {
      stream: true,
      headers: { 'x-request-id': 'e2e-stream' },
    });
    assert.equal(streamed.status, 200);

    const badKey = await anthropicCall(gw.url, 'pk-not-a-key', { headers: { 'x-request-id': 'e2e-badkey' } });
    assert.equal(badKey.status, 401);

    // The client reads the first bytes of a slow stream and hangs up.
    const ac = new AbortController();
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      signal: ac.signal,
      headers: {
        'content-type': 'application/json',
        'x-api-key': key,
        'anthropic-version': '2023-06-01',
        'x-sim-chunk-delay-ms': '200',
        'x-request-id': 'e2e-abort',
      },
      body: JSON.stringify({
        model: METERED_MODEL,
        max_tokens: 1000,
        stream: true,
        messages: [{ role: 'user', content: 'Tell a long story.' }],
      }),
    });
    assert.equal(res.status, 200);
    await res.body?.getReader().read();
    ac.abort();

    // Load: 500 calls, 25 at a time, then SIGTERM at once (records still queued must not be lost).
    let sent = 5;
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(Array.from({ length: 25 }, () => anthropicCall(gw.url, key)));
      for (const a of answers) assert.equal(a.status, 200, a.text);
      sent += answers.length;
    }
    assert.equal(await gw.stop(), 0, gw.output());
    assert.equal(sent, 505);
  } finally {
    await gw.stop();
    await sim.close();
  }

  const verify = auditCli(['verify', '--data-dir', gw.dataDir]);
  assert.equal(verify.status, 0, verify.stdout + verify.stderr);

  const all = records(gw.dataDir);
  assert.equal(all.length, 505);
  assert.equal(new Set(all.map((r) => r.requestId)).size, 505);
  for (const r of all) {
    assert.equal(r.policyRevision, revision);
    assert.equal(r.instance, 'gw-e2e-1');
    assert.ok(r.facts !== undefined, 'facts for policy replay');
  }
  const byId = (id: string) => {
    const r = all.find((x) => x.requestId === id);
    assert.ok(r, `record ${id}`);
    return r;
  };

  const a = byId('e2e-allow');
  assert.equal(a.outcome, 'allowed');
  assert.equal(a.keyId, 'e2e-audit');
  assert.equal(a.owner, 'e2e-audit@acme.example');
  assert.equal(a.team, 'app-dev');
  assert.equal(a.session, 'session-42');
  assert.equal(a.userAgent, 'claude-cli/2.0 (e2e)');
  assert.equal(a.surface, 'anthropic.messages');
  assert.equal(a.provider, 'anthropic');
  assert.equal(a.model, METERED_MODEL);
  assert.equal(a.stream, false);
  assert.equal(a.tokens.output, 1000);
  assert.equal(a.costUsd, 0.01);
  assert.deepEqual(a.decision, {
    allow: true,
    status: 200,
    code: a.decision?.code,
    reasons: a.decision?.reasons,
  });
  assert.deepEqual(a.facts?.tools, ['Read']);
  assert.equal(a.facts?.authStatus, 'ok');
  assert.equal(a.facts?.sizes.maxOutputTokens, 1000);
  assert.ok((a.facts?.sizes.bodyBytes ?? 0) > 0);
  assert.ok(a.latency.totalMs > 0);

  const d = byId('e2e-deny');
  assert.equal(d.outcome, 'denied');
  assert.equal(d.decision?.allow, false);
  assert.equal(d.decision?.status, 403);
  assert.equal(d.decision?.code, 'model_not_allowed');
  assert.ok((d.decision?.reasons.length ?? 0) > 0);
  assert.equal(d.costUsd, 0);

  const s = byId('e2e-stream');
  assert.equal(s.outcome, 'allowed');
  assert.equal(s.stream, true);
  assert.equal(s.tokens.output, 1000);

  const ab = byId('e2e-abort');
  assert.equal(ab.outcome, 'aborted');
  assert.equal(ab.errorCode, 'client_closed');
  assert.equal(ab.stream, true);
  assert.ok(ab.tokens.output < 1000);

  const b = byId('e2e-badkey');
  assert.equal(b.outcome, 'denied');
  assert.equal(b.keyId, null);
  assert.equal(b.decision?.status, 401);
  assert.equal(b.facts?.authStatus, 'unknown');

  // The key never appears in the log.
  const raw = auditCli(['query', '--data-dir', gw.dataDir, '--limit', '0', '--json']).stdout;
  assert.ok(!raw.includes(key));
  assert.ok(!raw.includes('pk-not-a-key'));
});
