// MCP tool calls count against the key's request rate limit, in the same counter as its model calls:
// a key cannot get round `requestsPerMinute` by calling tools instead of models.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { Simulator } from '../../src/simulator/server.ts';
import { examplePolicyCopy, TEST_KEYS } from '../fixtures/keys.ts';
import { type GatewayProcess, killAll, mcpClient, startGateway, startSimulator } from './helpers.ts';

const PER_MINUTE = 2;

/** The CI bot's key (policies/keys/bots.yaml) with room for PER_MINUTE requests a minute. */
function tightBotLimit(dir: string): void {
  const path = join(dir, 'keys/bots.yaml');
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  if (!Array.isArray(docs)) throw new Error('bots.yaml did not parse');
  for (const d of docs) {
    if (d.getIn(['metadata', 'name']) === 'ci-review-bot') {
      d.setIn(['spec', 'rateLimits', 'requestsPerMinute'], PER_MINUTE);
    }
  }
  writeFileSync(path, docs.map((d) => String(d)).join(''));
}

describe('MCP tool calls and rate limits', { timeout: 120_000 }, () => {
  let sim: Simulator;
  let gw: GatewayProcess;

  before(async () => {
    const s = await startSimulator({});
    sim = s.sim;
    const { dir } = examplePolicyCopy();
    tightBotLimit(dir);
    gw = await startGateway({ policyDir: dir, simUrl: s.url });
  });

  after(async () => {
    await gw?.stop();
    await sim?.close();
    killAll();
  });

  test('tool calls use up requestsPerMinute; a refused one gives its slot back; model calls share it', async () => {
    const client = await mcpClient(gw.url, TEST_KEYS.ciBot, 'limits-test');
    const search = () => client.callTool({ name: 'docs__search_docs', arguments: { query: 'budget' } });

    const first = await search();
    assert.notEqual(first.isError, true, JSON.stringify(first.content));
    // Outside the read-only scope: refused by the policy, so it does not count.
    const outside = await client.callTool({ name: 'docs__delete_docs', arguments: {} });
    assert.equal(outside.isError, true);
    assert.doesNotMatch(JSON.stringify(outside.content), /Rate limit/);
    const second = await search();
    assert.notEqual(second.isError, true, JSON.stringify(second.content));

    const third = await search();
    assert.equal(third.isError, true);
    assert.match(
      JSON.stringify(third.content),
      new RegExp(`Rate limit of key ci-review-bot reached: ${PER_MINUTE} requests per minute`),
    );
    await client.close();

    const model = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEYS.ciBot}` },
      body: JSON.stringify({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(model.status, 429);
    const refusal = (await model.json()) as { error: { message: string } };
    assert.match(refusal.error.message, /Rate limit of key ci-review-bot reached/);
    assert.equal(sim.requests.length, 0, 'the refused model call reached no provider');
  });
});
