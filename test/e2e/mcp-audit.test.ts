// MCP through `portcullis serve`: tool arguments pass the key's guardrail chain, and every call is an
// audit record like an inference call — key, server, tool, decision, revision; never the arguments.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readAuditRecords } from '../../src/policyci/replay.ts';
import type { Simulator } from '../../src/simulator/server.ts';
import { fakeAwsKey } from '../fixtures/fake-credentials.ts';
import { examplePolicyCopy, TEST_KEYS } from '../fixtures/keys.ts';
import { type GatewayProcess, killAll, mcpClient, startGateway, startSimulator } from './helpers.ts';

describe('MCP through portcullis serve', { timeout: 120_000 }, () => {
  let sim: Simulator;
  let gw: GatewayProcess;

  before(async () => {
    const s = await startSimulator({});
    sim = s.sim;
    gw = await startGateway({ policyDir: examplePolicyCopy().dir, simUrl: s.url });
  });

  after(async () => {
    await gw?.stop();
    await sim?.close();
    killAll();
  });

  test('a credential in tool arguments is blocked by a key whose chain blocks secrets', async () => {
    const client = await mcpClient(gw.url, TEST_KEYS.ciBot, 'guard-test');
    const secret = fakeAwsKey();
    const blocked = await client.callTool({ name: 'docs__search_docs', arguments: { query: secret } });
    assert.equal(blocked.isError, true);
    const text = JSON.stringify(blocked.content);
    assert.match(text, /aws_access_key_id/);
    assert.ok(!text.includes(secret), 'the refusal does not echo the secret');
    const clean = await client.callTool({ name: 'docs__search_docs', arguments: { query: 'budget' } });
    assert.notEqual(clean.isError, true);
    await client.close();
  });

  test('tools/list and tools/call leave records with key, server, tool and revision', async () => {
    const client = await mcpClient(gw.url, TEST_KEYS.member, 'audit-test');
    const { tools } = await client.listTools();
    assert.ok(
      tools.some((t) => t.name === 'docs__search_docs'),
      JSON.stringify(tools.map((t) => t.name)),
    );
    const result = await client.callTool({ name: 'docs__search_docs', arguments: { query: 'budget' } });
    assert.notEqual(result.isError, true);
    await client.close();

    const refused = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    assert.equal(refused.status, 401);

    assert.equal(await gw.stop(), 0);
    const records = readAuditRecords(gw.dataDir).filter((r) => r.surface.startsWith('mcp.'));
    const call = records.find((r) => r.surface === 'mcp.tools_call' && r.keyId === 'bob-dev');
    assert.ok(call, JSON.stringify(records));
    assert.equal(call.keyId, 'bob-dev');
    assert.equal(call.team, 'app-dev');
    assert.deepEqual(call.mcp, { server: 'docs', tool: 'search_docs' });
    assert.equal(call.outcome, 'allowed');
    assert.equal(call.decision?.allow, true);
    assert.match(call.policyRevision, /^(sha256:)?[0-9a-f]{40,64}$/);
    assert.ok(!JSON.stringify(call).includes('budget'), 'arguments are not recorded');
    assert.ok(records.some((r) => r.surface === 'mcp.tools_list' && r.keyId === 'bob-dev'));
    const blocked = records.find((r) => r.keyId === 'ci-review-bot' && r.outcome === 'blocked');
    assert.deepEqual(blocked?.mcp, { server: 'docs', tool: 'search_docs' });
    const unauthenticated = records.find((r) => r.keyId === null);
    assert.equal(unauthenticated?.outcome, 'denied');
    assert.equal(unauthenticated?.decision?.status, 401);
  });
});
