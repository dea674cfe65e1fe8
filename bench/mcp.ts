// MCP gateway overhead: tools/list (one Rego decision per upstream tool) and tools/call through
// fastify to the example docs server, plus stripTools on a Claude Code-sized request.
// Run: node_modules/.bin/node bench/mcp.ts
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import Fastify from 'fastify';
import { createMcpGateway } from '../src/mcp/index.ts';
import { buildSnapshot } from '../src/policy/build-snapshot.ts';
import { declaredTools, stripTools } from '../src/tools/index.ts';
import { examplePolicyCopy } from '../test/fixtures/keys.ts';

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)].toFixed(3);
async function time(label: string, n: number, fn: () => Promise<unknown> | unknown) {
  for (let i = 0; i < 20; i++) await fn();
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  console.log(`${label.padEnd(44)} p50 ${pct(xs, 0.5)} ms  p99 ${pct(xs, 0.99)} ms  (n=${n})`);
}

const { dir, keys } = examplePolicyCopy();
const snapshot = await buildSnapshot({ dir, cacheDir: mkdtempSync(join(tmpdir(), 'portcullis-bench-')) });
const gateway = createMcpGateway({ getSnapshot: () => snapshot });
const app = Fastify();
await app.register(gateway.plugin);
const url = new URL('/mcp', await app.listen({ port: 0, host: '127.0.0.1' }));
const client = new Client({ name: 'bench', version: '1' });
await client.connect(
  new StreamableHTTPClientTransport(url, {
    requestInit: { headers: { authorization: `Bearer ${keys.member}` } },
  }),
);

await time('tools/list (read-only key, docs server)', 300, () => client.listTools());
await time('tools/call docs__list_docs', 300, () =>
  client.callTool({ name: 'docs__list_docs', arguments: {} }),
);
await time('tools/call denied (docs__write_doc)', 300, () =>
  client.callTool({ name: 'docs__write_doc', arguments: {} }),
);

const body = {
  model: 'claude-sonnet-4-5',
  messages: [{ role: 'user', content: 'hi' }],
  tools: Array.from({ length: 40 }, (_, i) => ({
    name: i === 7 ? 'Bash' : `Tool${i}`,
    input_schema: { type: 'object' },
  })),
};
await time('declaredTools + stripTools (40 tools)', 5000, () =>
  stripTools(
    'anthropic.messages',
    body,
    declaredTools('anthropic.messages', body).filter((n) => n === 'Bash'),
  ),
);

await client.close();
await app.close();
