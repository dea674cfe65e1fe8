// Added time to first streamed token with a response-stage secrets step. Two keys of the same team
// call the same streamed Anthropic model through `portcullis serve` (example policy) against the
// simulator, which streams two tokens every --chunk-ms: carol-dev's chain scans answers (the example
// default: secrets at the response stage, block), bob-dev's chain here is the same without the
// response step. Calls alternate; the time to the first text delta is compared side by side.
//   node_modules/.bin/node bench/stream-ttft.ts [--calls 40] [--chunk-ms 10] [--tokens 200]
//     [--text "…"]   stream this text instead of generated words (e.g. one with a credential-ish word)
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { killAll, startGateway, startSimulator } from '../test/e2e/helpers.ts';
import { examplePolicyCopy } from '../test/fixtures/keys.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '40' },
    'chunk-ms': { type: 'string', default: '10' },
    tokens: { type: 'string', default: '200' },
    text: { type: 'string' },
  },
});
const CALLS = Number(values.calls);

const { dir, keys } = examplePolicyCopy();
// bob-dev gets a chain without the response step.
const chainFile = join(dir, 'guardrails', 'request-only.yaml');
writeFileSync(
  chainFile,
  [
    'apiVersion: portcullis.dev/v1',
    'kind: GuardrailChain',
    'metadata:',
    '  name: request-only',
    'spec:',
    '  steps:',
    '    - { detector: secrets, stage: request, action: redact }',
    '',
  ].join('\n'),
);
const keysFile = join(dir, 'keys', 'app-dev.yaml');
const docs = parseAllDocuments(readFileSync(keysFile, 'utf8'));
if (!Array.isArray(docs)) throw new Error('cannot parse app-dev.yaml');
for (const d of docs)
  if (d.getIn(['metadata', 'name']) === 'bob-dev') d.setIn(['spec', 'guardrailChain'], 'request-only');
writeFileSync(keysFile, docs.map((d) => String(d)).join(''));

const { sim, url: simUrl } = await startSimulator({
  chunkDelayMs: Number(values['chunk-ms']),
  tokensPerChunk: 2,
});
const gw = await startGateway({ policyDir: dir, simUrl });

async function firstToken(key: string): Promise<number> {
  const started = performance.now();
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-api-key': key,
    'anthropic-version': '2023-06-01',
    'x-sim-output-tokens': values.tokens,
  };
  if (values.text) {
    headers['x-sim-text'] = encodeURIComponent(values.text);
    headers['x-sim-chunk-chars'] = '8';
  }
  const res = await fetch(`${gw.url}/v1/messages`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      model: 'claude-haiku-4-5',
      max_tokens: 4096,
      stream: true,
      messages: [{ role: 'user', content: 'Tell me about the gateway.' }],
    }),
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  const decoder = new TextDecoder();
  let seen = '';
  let at = Number.NaN;
  for await (const chunk of res.body!) {
    seen += decoder.decode(chunk as Uint8Array, { stream: true });
    if (Number.isNaN(at) && /"type":"text_delta","text":"[^"]/.test(seen)) at = performance.now() - started;
  }
  if (Number.isNaN(at)) throw new Error('no text delta');
  return at;
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  const scanned: number[] = [];
  const plain: number[] = [];
  for (let i = 0; i < 3; i++) {
    await firstToken(keys.carol);
    await firstToken(keys.member);
  }
  for (let i = 0; i < CALLS; i++) {
    scanned.push(await firstToken(keys.carol));
    plain.push(await firstToken(keys.member));
  }
  const a = p50(scanned);
  const b = p50(plain);
  console.log(`${CALLS} calls each, a chunk of 2 tokens every ${values['chunk-ms']} ms`);
  console.log(`time to first token, response secrets step:    p50 ${a.toFixed(1)} ms`);
  console.log(`time to first token, no response step:          p50 ${b.toFixed(1)} ms`);
  console.log(`added by the response step:                     ${(a - b).toFixed(1)} ms (target ≤ 100 ms)`);
} finally {
  await gw.stop();
  await sim.close();
  killAll();
}
