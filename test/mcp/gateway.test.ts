import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import Fastify, { type FastifyInstance } from 'fastify';
import { createMcpGateway, type McpAuditEvent, type McpGateway } from '../../src/mcp/index.ts';
import { buildSnapshot } from '../../src/policy/build-snapshot.ts';
import type { Snapshot } from '../../src/policy/snapshot.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';
import { startTrackerServer } from '../fixtures/mcp/tracker-server.ts';

const NOTES_SERVER = join(import.meta.dirname, '../fixtures/mcp/notes-server.ts');
const TRACKER_TOKEN = 'tracker-test-token';

function mcpServersYaml(trackerUrl: string): string {
  return `apiVersion: portcullis.dev/v1
kind: McpServer
metadata: { name: notes }
spec:
  transport: stdio
  command: ${JSON.stringify([process.execPath, NOTES_SERVER])}
  env:
    NOTES_TOKEN: { fromEnv: TEST_NOTES_TOKEN }
---
apiVersion: portcullis.dev/v1
kind: McpServer
metadata: { name: tracker }
spec:
  transport: http
  url: ${trackerUrl}
  headers:
    Authorization: { fromEnv: TEST_TRACKER_AUTH }
`;
}

const text = (r: unknown) =>
  ((r as CallToolResult).content ?? []).map((c) => (c.type === 'text' ? c.text : '')).join('\n');

describe('MCP gateway: a real client, fastify, a stdio and an HTTP upstream', () => {
  let app: FastifyInstance;
  let gateway: McpGateway;
  let snapshot: Snapshot;
  let policyDir: string;
  let cacheDir: string;
  let url: URL;
  let keys: ReturnType<typeof examplePolicyCopy>['keys'];
  let tracker: Awaited<ReturnType<typeof startTrackerServer>>;
  const audit: McpAuditEvent[] = [];
  const clients: Client[] = [];

  const connect = async (key: string, header: 'bearer' | 'x-api-key' = 'bearer') => {
    const headers: Record<string, string> =
      header === 'bearer' ? { authorization: `Bearer ${key}` } : { 'x-api-key': key };
    const client = new Client({ name: 'test-agent', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
    clients.push(client);
    return client;
  };
  const call = (client: Client, name: string, args: Record<string, unknown> = {}) =>
    client.callTool({ name, arguments: args }) as Promise<CallToolResult>;

  before(async () => {
    tracker = await startTrackerServer(TRACKER_TOKEN);
    const copy = examplePolicyCopy();
    keys = copy.keys;
    writeFileSync(join(copy.dir, 'mcp-test-servers.yaml'), mcpServersYaml(tracker.url));
    policyDir = copy.dir;
    cacheDir = mkdtempSync(join(tmpdir(), 'portcullis-cache-'));
    snapshot = await buildSnapshot({ dir: policyDir, cacheDir });
    gateway = createMcpGateway({
      getSnapshot: () => snapshot,
      audit: (e) => audit.push(e),
      guard: async (stage, t) =>
        /AKIA[0-9A-Z]{16}/.test(t)
          ? { blocked: true, reason: `an AWS access key in the ${stage}` }
          : { blocked: false },
      upstream: {
        env: {
          ...process.env,
          TEST_NOTES_TOKEN: 'notes-secret',
          TEST_TRACKER_AUTH: `Bearer ${TRACKER_TOKEN}`,
        },
      },
    });
    app = Fastify();
    await app.register(gateway.plugin);
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    url = new URL('/mcp', address);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await app.close();
    await tracker.close();
  });

  test('tools/list shows a scoped key only what its tool scope allows, namespaced server__tool', async () => {
    const bob = await connect(keys.member);
    const names = (await bob.listTools()).tools.map((t) => t.name).filter((n) => !n.startsWith('docs__'));
    assert.deepEqual(names.sort(), [
      'notes__get_pid',
      'notes__list_notes',
      'notes__read_forever',
      'notes__read_note',
      'tracker__get_config',
      'tracker__search_issues',
    ]);
    const alice = await connect(keys.principal, 'x-api-key');
    const all = (await alice.listTools()).tools.map((t) => t.name);
    for (const n of ['notes__write_note', 'notes__delete_note', 'tracker__create_issue'])
      assert.ok(all.includes(n), n);
    const readNote = (await alice.listTools()).tools.find((t) => t.name === 'notes__read_note');
    assert.deepEqual(Object.keys(readNote?.inputSchema.properties ?? {}), ['name']);
  });

  test('the example docs server from policies/ works from the repository root under the read-only scope', async () => {
    const bob = await connect(keys.member);
    const names = (await bob.listTools()).tools.map((t) => t.name).filter((n) => n.startsWith('docs__'));
    assert.deepEqual(names.sort(), ['docs__list_docs', 'docs__read_doc', 'docs__search_docs']);
    const hits = text(await call(bob, 'docs__search_docs', { query: 'claude mcp add' }));
    assert.match(hits, /^docs\/mcp\.md:\d+: claude mcp add --transport http portcullis/m);
    const outside = await call(bob, 'docs__read_doc', { path: '../package.json' });
    assert.equal(outside.isError, true);
  });

  test('an out-of-scope call is refused as a tool error naming the key and scope, and never reaches upstream', async () => {
    const bob = await connect(keys.member);
    const r = await call(bob, 'notes__write_note', { name: 'evil', text: 'x' });
    assert.equal(r.isError, true);
    assert.match(text(r), /may not call MCP tool notes\/write_note \(tool scope read-only\)/);
    const alice = await connect(keys.principal);
    assert.doesNotMatch(text(await call(alice, 'notes__list_notes')), /evil/);
    const event = audit.find((e) => e.kind === 'mcp.tools_call' && e.tool === 'write_note');
    assert.equal(event?.outcome, 'denied');
    assert.equal(event?.keyId, 'bob-dev');
    assert.equal(event?.decision.code, 'tool_not_allowed');
  });

  test('the CI bot, limited to two model providers, still reaches MCP tools in its scope', async () => {
    const bot = await connect(keys.ciBot);
    const r = await call(bot, 'tracker__search_issues', { query: 'login' });
    assert.equal(r.isError, undefined);
    assert.equal(text(r), '#1 Login page times out');
  });

  test('an allowed call passes through with upstream credentials from env references, and is audited', async () => {
    const bob = await connect(keys.member);
    const r = await call(bob, 'tracker__search_issues', { query: 'csv' });
    assert.equal(text(r), '#2 Export to CSV drops the header row');
    assert.match(text(await call(bob, 'notes__get_pid')), /^\d+ notes-secret$/);
    const event = audit.findLast((e) => e.tool === 'search_issues');
    assert.equal(event?.outcome, 'ok');
    assert.equal(event?.server, 'tracker');
    assert.equal(event?.revision, snapshot.revision);
    assert.ok(typeof event?.latencyMs === 'number' && event.latencyMs >= 0);
    assert.ok(!JSON.stringify(audit).includes('csv'), 'audit events carry no arguments');
  });

  test('guardrail hook blocks arguments and results with a tool error', async () => {
    const alice = await connect(keys.principal);
    const args = await call(alice, 'tracker__create_issue', { title: 'creds AKIAIOSFODNN7EXAMPLE leaked' });
    assert.equal(args.isError, true);
    assert.match(
      text(args),
      /blocked the arguments of tracker\/create_issue: an AWS access key in the request/,
    );
    const result = await call(alice, 'tracker__get_config');
    assert.equal(result.isError, true);
    assert.match(text(result), /withheld the result of tracker\/get_config/);
    assert.doesNotMatch(text(result), /AKIA/);
    assert.equal(audit.findLast((e) => e.tool === 'create_issue')?.outcome, 'blocked');
  });

  test('an unknown tool name is a tool error that explains the naming', async () => {
    const alice = await connect(keys.principal);
    const r = await call(alice, 'write_note');
    assert.equal(r.isError, true);
    assert.match(text(r), /named <server>__<tool>/);
  });

  test('refuses missing, unknown, disabled and expired keys with 401 and a reason', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
    const cases: [Record<string, string>, RegExp][] = [
      [{}, /No API key was sent/],
      [{ authorization: 'Bearer pcl_not-a-real-key' }, /not a valid Portcullis virtual key/],
      [{ authorization: `Bearer ${keys.disabled}` }, /has been disabled/],
      [{ 'x-api-key': keys.expired }, /has expired/],
    ];
    for (const [headers, reason] of cases) {
      const res = await post(headers);
      assert.equal(res.status, 401);
      const body = (await res.json()) as { error: { message: string } };
      assert.match(body.error.message, reason);
    }
    await assert.rejects(connect('pcl_wrong'));
  });

  test('an upstream crash mid-call is a clear tool error, and the next call restarts the server', async () => {
    const alice = await connect(keys.principal);
    const crashed = await call(alice, 'notes__crash');
    assert.equal(crashed.isError, true);
    assert.match(
      text(crashed),
      /MCP server 'notes' stopped while running crash.*restarts it on the next call/,
    );
    assert.equal(audit.findLast((e) => e.tool === 'crash')?.outcome, 'upstream_error');

    const pid = Number.parseInt(text(await call(alice, 'notes__get_pid')), 10);
    const marker = join(mkdtempSync(join(tmpdir(), 'portcullis-mcp-')), 'started');
    const pending = call(alice, 'notes__read_forever', { marker });
    while (!existsSync(marker)) await sleep(20);
    process.kill(pid, 'SIGKILL');
    const killed = await pending;
    assert.equal(killed.isError, true);
    assert.match(text(killed), /MCP server 'notes' stopped while running read_forever/);

    const again = Number.parseInt(text(await call(alice, 'notes__get_pid')), 10);
    assert.ok(again > 0 && again !== pid, 'a fresh server process answers');
  });

  test('a new policy snapshot gets fresh upstreams and the old ones are stopped', async () => {
    const alice = await connect(keys.principal);
    const oldPid = Number.parseInt(text(await call(alice, 'notes__get_pid')), 10);
    snapshot = await buildSnapshot({ dir: policyDir, cacheDir });
    const newPid = Number.parseInt(text(await call(alice, 'notes__get_pid')), 10);
    assert.notEqual(newPid, oldPid);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    while (alive(oldPid)) await sleep(20);
    assert.equal(audit.findLast((e) => e.tool === 'get_pid')?.revision, snapshot.revision);
  });
});
