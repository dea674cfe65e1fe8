// Codex through the real gateway with a read-only key, using the request Codex 0.171 really sends
// (test/fixtures/agents/codex-*): its code-mode `exec` tool (whose JavaScript calls exec_command and
// apply_patch) is removed from what the provider sees, every shell path the model may call anyway is
// refused with a message that is true, the audit says `blocked`, and a tool list the gateway cannot
// read is refused instead of forwarded.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Simulator } from '../../src/simulator/server.ts';
import { examplePolicyCopy, TEST_KEYS } from '../fixtures/keys.ts';
import { auditCli, type GatewayProcess, killAll, post, startGateway, startSimulator } from './helpers.ts';

const dir = readdirSync('test/fixtures/agents').find((d) => d.startsWith('codex-'))!;
const fixture = JSON.parse(
  readFileSync(join('test/fixtures/agents', dir, '01-openai.responses.json'), 'utf8'),
);

/** The captured Codex request, on a model bob-dev may use. */
function codexBody(stream: boolean): Record<string, unknown> {
  return { ...structuredClone(fixture.body), model: 'gpt-5-mini', stream };
}

const toolNamesIn = (body: unknown): string[] => {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ((o.type === 'function' || o.type === 'custom') && typeof o.name === 'string') out.push(o.name);
      if (Array.isArray(o.tools)) walk(o.tools);
      if (Array.isArray(o.input)) walk(o.input);
    }
  };
  walk(body);
  return out;
};

describe('Codex with a read-only key', { timeout: 180_000 }, () => {
  let sim: Simulator;
  let gw: GatewayProcess;
  const headers = (extra: Record<string, string> = {}) => ({
    authorization: `Bearer ${TEST_KEYS.member}`,
    ...extra,
  });

  before(async () => {
    const s = await startSimulator({ historySize: 50 });
    sim = s.sim;
    gw = await startGateway({ policyDir: examplePolicyCopy().dir, simUrl: s.url });
  });

  after(async () => {
    await gw?.stop();
    await sim?.close();
    killAll();
  });

  test('exec, and every tool it could call, never reaches the provider', async () => {
    const before = toolNamesIn(fixture.body);
    assert.ok(before.includes('exec'), 'the fixture declares exec');
    const r = await post(gw.url, '/v1/responses', codexBody(false), headers());
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('x-portcullis-tools-stripped') ?? '', /(?:^|,)exec(?:,|$)/);
    const sent = toolNamesIn(sim.last('/v1/responses')?.body);
    assert.ok(sent.length > 0, 'read-only tools are still offered');
    for (const shell of ['exec', 'exec_command', 'apply_patch', 'write_stdin', 'shell', 'local_shell'])
      assert.ok(!sent.includes(shell), `${shell} was forwarded`);
    assert.ok(
      !JSON.stringify(sim.last('/v1/responses')?.body).includes('declare const tools'),
      'no code-mode tool left',
    );
  });

  for (const tool of ['exec', 'exec_command', 'shell_command', 'apply_patch', 'local_shell']) {
    test(`a model calling ${tool} anyway is refused, streamed and not`, async () => {
      const plain = await post(
        gw.url,
        '/v1/responses',
        codexBody(false),
        headers({ 'x-sim-tool-call': tool }),
      );
      assert.equal(plain.status, 403, plain.text);
      const message = plain.json().error.message as string;
      assert.match(
        message,
        new RegExp(`called the tool ${tool}, which your tool scope \\(read-only\\) does not allow`),
      );
      if (tool === 'exec') assert.match(message, /had removed it from the tools offered to the model/);
      else assert.doesNotMatch(message, /had removed it/);
      const streamed = await post(
        gw.url,
        '/v1/responses',
        codexBody(true),
        headers({ 'x-sim-tool-call': tool }),
      );
      assert.equal(streamed.status, 200);
      assert.match(streamed.text, /event: response\.failed/);
      assert.match(streamed.text, new RegExp(`called the tool ${tool}`));
      assert.doesNotMatch(streamed.text, /"command":"ls"/, 'the call never reached the client');
    });
  }

  test('the audit records the refused calls as blocked', async () => {
    await post(
      gw.url,
      '/v1/responses',
      codexBody(false),
      headers({ 'x-sim-tool-call': 'exec', 'x-request-id': 'codex-exec-1' }),
    );
    let rec: { outcome: string; tools: { stripped: string[]; deniedCalls: string[] } } | undefined;
    for (let i = 0; i < 25 && rec === undefined; i++) {
      const q = auditCli([
        'query',
        '--data-dir',
        gw.dataDir,
        '--outcome',
        'blocked',
        '--limit',
        '0',
        '--json',
      ]);
      assert.equal(q.status, 0, q.stderr);
      rec = q.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).record)
        .find((x: { requestId: string }) => x.requestId === 'codex-exec-1');
      if (rec === undefined) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(rec, 'found by audit query --outcome blocked');
    assert.equal(rec.outcome, 'blocked');
    assert.deepEqual(rec.tools.deniedCalls, ['exec']);
    assert.ok(rec.tools.stripped.includes('exec'));
  });

  test('a tool list the gateway cannot read is refused, not forwarded', async () => {
    const body = codexBody(false);
    (body.input as unknown[]).push({ type: 'tool_bundle_v2', tools: [{ kind: 'shell', spec: {} }] });
    const seen = sim.requests.length;
    const r = await post(gw.url, '/v1/responses', body, headers());
    assert.equal(r.status, 403, r.text);
    assert.match(r.json().error.message, /cannot read the tool declarations at input\[\d+\]\.tools/);
    assert.equal(sim.requests.length, seen, 'nothing reached the provider');
  });
});
