// MCP calls run the same stages as model calls: a tool listing counts against the key's request rate
// limit, and a key with content logging leaves its tool arguments and results in the audit log,
// redacted like model calls' content.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { readAuditRecords } from '../../src/policyci/replay.ts';
import type { Simulator } from '../../src/simulator/server.ts';
import { examplePolicyCopy, TEST_KEYS } from '../fixtures/keys.ts';
import { type GatewayProcess, killAll, mcpClient, startGateway, startSimulator } from './helpers.ts';

/** The CI bot's key with room for two requests a minute and content logging on. */
function botPolicy(dir: string): void {
  const path = join(dir, 'keys/bots.yaml');
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  if (!Array.isArray(docs)) throw new Error('bots.yaml did not parse');
  for (const d of docs) {
    if (d.getIn(['metadata', 'name']) !== 'ci-review-bot') continue;
    d.setIn(['spec', 'rateLimits', 'requestsPerMinute'], 2);
    d.setIn(['spec', 'contentLogging'], true);
  }
  writeFileSync(path, docs.map((d) => String(d)).join(''));
}

describe('MCP calls through the call stages', { timeout: 120_000 }, () => {
  let sim: Simulator;
  let gw: GatewayProcess;

  before(async () => {
    const s = await startSimulator({});
    sim = s.sim;
    const { dir } = examplePolicyCopy();
    botPolicy(dir);
    gw = await startGateway({ policyDir: dir, simUrl: s.url });
  });

  after(async () => {
    await gw?.stop();
    await sim?.close();
    killAll();
  });

  test('tools/list counts against requestsPerMinute; content logging records arguments and results, redacted', async () => {
    const client = await mcpClient(gw.url, TEST_KEYS.ciBot, 'pipeline-test');
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'docs__search_docs'));
    const secret = 'lena.brandt@fastmail.com';
    const found = await client.callTool({
      name: 'docs__search_docs',
      arguments: { query: `budget ${secret}` },
    });
    assert.notEqual(found.isError, true, JSON.stringify(found.content));
    // The listing and the call used both requests of this minute.
    await assert.rejects(
      client.listTools(),
      /Rate limit of key ci-review-bot reached: 2 requests per minute/,
    );
    await client.close();

    assert.equal(await gw.stop(), 0);
    const records = readAuditRecords(gw.dataDir).filter((r) => r.keyId === 'ci-review-bot');
    const listings = records.filter((r) => r.surface === 'mcp.tools_list');
    assert.deepEqual(
      listings.map((r) => r.outcome),
      ['allowed', 'denied'],
    );
    assert.equal(listings[1].decision?.status, 429);
    const call = records.find((r) => r.surface === 'mcp.tools_call');
    assert.ok(call, JSON.stringify(records));
    assert.deepEqual(call.mcp, { server: 'docs', tool: 'search_docs' });
    const request = call.content?.request ?? '';
    assert.match(request, /budget \[REDACTED:email\]/);
    assert.ok(!JSON.stringify(call).includes(secret), 'the address is not in the record');
    assert.ok((call.content?.response ?? '').length > 0, 'the result the client got is recorded');
  });
});
