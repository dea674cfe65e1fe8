// The audit plugin on its own, over a real audit log: one record per call from the frozen record,
// content only for content-logging keys, redacted, for model and MCP calls alike.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { AuditLog } from '../../../src/audit/index.ts';
import type { AuditRecord } from '../../../src/audit/record.ts';
import { AuditStore } from '../../../src/audit/store.ts';
import { Call } from '../../../src/gateway/call.ts';
import { decisionInput } from '../../../src/gateway/decision-input.ts';
import { callRecord } from '../../../src/gateway/outcome.ts';
import { createAuditPlugin } from '../../../src/gateway/plugins/audit.ts';
import { fakeSnapshot } from '../fake-snapshot.ts';
import { ALLOW, testCall } from './call-fixture.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function withLog(
  run: (plugin: ReturnType<typeof createAuditPlugin>) => Promise<void>,
): Promise<AuditRecord[]> {
  const dir = mkdtempSync(join(tmpdir(), 'pc-audit-plugin-'));
  dirs.push(dir);
  const log = AuditLog.open({
    dataDir: dir,
    registry: new Registry(),
    logger: { warn() {}, error() {}, info() {} } as never,
  });
  const plugin = createAuditPlugin({ log: () => log, instance: 'unit-1' });
  await run(plugin);
  await log.close();
  const store = new AuditStore(join(dir, 'audit.db'), { readOnly: true });
  try {
    return store.query({ order: 'asc' }).map((e) => JSON.parse(e.json) as AuditRecord);
  } finally {
    store.close();
  }
}

const snapshot = fakeSnapshot({ upstream: 'http://127.0.0.1:9' });
const email = 'lena.brandt@fastmail.com';

describe('audit plugin', () => {
  test('appends the frozen record with the instance, and no content for keys without content logging', async () => {
    const records = await withLog(async (plugin) => {
      const call = testCall({
        snapshot,
        body: { model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: email }] },
      });
      call.decision = ALLOW;
      call.outcome = 'forwarded';
      call.status = 200;
      assert.equal(plugin.respond!(call), undefined, 'no capture: nothing to pay for');
      await plugin.audit!(callRecord(call), call);
    });
    assert.equal(records.length, 1);
    assert.equal(records[0].instance, 'unit-1');
    assert.equal(records[0].outcome, 'allowed');
    assert.equal(records[0].content, undefined);
  });

  test('a content-logging key’s request and response are recorded redacted', async () => {
    const key = { ...snapshot.keys.get('good')!, contentLogging: true };
    const records = await withLog(async (plugin) => {
      const call = testCall({
        snapshot,
        key,
        body: {
          model: 'claude-sonnet-4-5',
          max_tokens: 5,
          messages: [{ role: 'user', content: `mail ${email}` }],
        },
      });
      call.decision = ALLOW;
      call.outcome = 'forwarded';
      call.status = 200;
      const capture = plugin.respond!(call)!;
      const answer = { type: 'message', content: [{ type: 'text', text: `sent to ${email}` }] };
      capture.held!(Buffer.from(JSON.stringify(answer)));
      await plugin.audit!(callRecord(call), call);
    });
    const content = records[0].content!;
    assert.match(content.request ?? '', /mail \[REDACTED:email\]/);
    assert.match(content.response ?? '', /sent to \[REDACTED:email\]/);
    assert.ok(!JSON.stringify(records[0]).includes(email));
  });

  test('an MCP call’s arguments and result are recorded redacted for a content-logging key', async () => {
    const key = { ...snapshot.keys.get('good')!, contentLogging: true };
    const records = await withLog(async (plugin) => {
      const call = new Call('mcp-1', snapshot, 'mcp.tools_call', 'mcp', null);
      call.auth = { status: 'ok', key };
      call.body = { to: email };
      call.input = decisionInput({
        surface: 'mcp.tools_call',
        provider: 'mcp',
        auth: { status: 'ok', enforced: true },
        key,
        mcp: { server: 'mail', tool: 'send' },
        nowMs: call.startedAt,
      });
      call.decision = ALLOW;
      call.outcome = 'forwarded';
      call.status = 200;
      call.answerText = `queued for ${email}`;
      await plugin.audit!(callRecord(call), call);
    });
    assert.deepEqual(records[0].mcp, { server: 'mail', tool: 'send' });
    assert.equal(records[0].provider, 'mail');
    assert.match(records[0].content?.request ?? '', /\[REDACTED:email\]/);
    assert.equal(records[0].content?.response, 'queued for [REDACTED:email]');
  });
});
