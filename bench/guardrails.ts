// Guardrail chain speed on a realistic coding-agent prompt: ~100 KB of Anthropic Messages history
// (system prompt, prose, tool calls, tool results holding source files and shell output, a few
// secrets). Prints p50/p99 for a first scan (empty cache) and for the next turn (same history plus
// one new message, so only the new message is scanned). Then the small requests that dominate gateway
// throughput, through the example policy's `default` chain: the chat body bench/gateway.ts sends and a
// 3.6 KB chat request with a tool, per call and per call's allocation (what the request path leaves
// for the garbage collector), and the scan of the simulator's non-streamed chat answer.
//   node_modules/.bin/node bench/guardrails.ts [iterations]
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  type CompiledChain,
  compileChain,
  createResponseScanner,
  ScanCache,
  type ScanResult,
  scanRequest,
  scanResponse,
  streamDeltas,
} from '../src/guardrails/index.ts';
import type { Surface } from '../src/policy/decision.ts';
import { findTools } from '../src/tools/index.ts';
import { benchChat } from './support/chat.ts';

const ITER = Number(process.argv[2] ?? 300);
const TARGET = 100_000;

function sourceFiles(): string[] {
  const dirs = [
    'node_modules/fastify/lib',
    'node_modules/undici/lib/dispatcher',
    'node_modules/yaml/dist/compose',
    'node_modules/pino/lib',
  ];
  const out: string[] = [];
  for (const d of dirs)
    for (const f of readdirSync(d)) if (f.endsWith('.js')) out.push(readFileSync(join(d, f), 'utf8'));
  return out;
}

const rnd = (alphabet: string, n: number) =>
  [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join('');
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const PROSE =
  'The handler validates the request, resolves the route and forwards the body upstream. When the upstream answers with a retryable status we back off exponentially, up to the configured limit, and surface the last error to the caller. ';

function conversation(): { system: string; messages: unknown[] } {
  const files = sourceFiles();
  const messages: unknown[] = [];
  let size = 0;
  let turn = 0;
  const secrets = [
    `AWS_ACCESS_KEY_ID=AKIA${rnd('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}\nDATABASE_URL=postgres://app:${rnd(ALNUM, 18)}@db.internal:5432/app\n`,
    `$ git remote -v\norigin  https://ghp_${rnd(ALNUM, 36)}@github.com/acme/api.git (fetch)\n`,
    `Reach me at dana.whitfield@acme-corp.io or +1 415 867 5309.\n`,
  ];
  while (size < TARGET - 2000) {
    const file = files[turn % files.length].slice(0, 6000);
    const id = `toolu_${rnd(ALNUM, 24)}`;
    messages.push({ role: 'user', content: `${PROSE.repeat(2)}Please look at file ${turn}.` });
    messages.push({
      role: 'assistant',
      content: [
        { type: 'text', text: PROSE },
        { type: 'tool_use', id, name: 'Read', input: { file_path: `/repo/src/file${turn}.js` } },
      ],
    });
    const extra = turn < secrets.length ? secrets[turn] : '';
    messages.push({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: id, content: extra + file }],
    });
    size += PROSE.length * 3 + file.length + extra.length + 60;
    turn++;
  }
  return { system: PROSE.repeat(10), messages };
}

const chainDoc = {
  apiVersion: 'portcullis.dev/v1',
  kind: 'GuardrailChain',
  metadata: { name: 'bench' },
  spec: {
    steps: [
      { detector: 'secrets', action: 'redact' },
      {
        detector: 'pii',
        action: 'log',
        types: ['email', 'phone', 'ssn', 'payment_card', 'iban', 'ip_address'],
      },
      { detector: 'size', action: 'block', maxTokens: 200_000 },
    ],
  },
};

function stats(label: string, samples: number[]) {
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];
  console.log(
    `${label.padEnd(34)} p50 ${q(0.5).toFixed(1).padStart(7)} µs   p99 ${q(0.99).toFixed(1).padStart(7)} µs`,
  );
}

const body = conversation();
if (process.env.DUMP) (await import('node:fs')).writeFileSync(process.env.DUMP, JSON.stringify(body));
const json = JSON.stringify(body);
console.log(
  `prompt: ${(json.length / 1000).toFixed(1)} KB, ${body.messages.length} messages; ${ITER} iterations`,
);

const cache = new ScanCache();
const chain = compileChain(chainDoc, { cache });

// First scan: nothing cached. A running gateway has compiled the scanner's code long before a new
// conversation arrives, so V8 gets a warm-up first (with 20 scans only, p50 read 15-25 % higher).
const first: number[] = [];
let findings = 0;
for (let i = 0; i < 600; i++) {
  cache.clear();
  await scanRequest(chain, 'anthropic.messages', JSON.parse(json));
}
for (let i = 0; i < ITER + 20; i++) {
  cache.clear();
  const a = JSON.parse(json);
  const t = performance.now();
  const r = await scanRequest(chain, 'anthropic.messages', a);
  if (i >= 20) first.push((performance.now() - t) * 1000);
  findings = r.findings.length;
}
console.log(`findings per scan: ${findings}`);
stats('first scan (empty cache)', first);

// Next turn: the history was scanned on the previous call; each call adds one new user message.
cache.clear();
await scanRequest(chain, 'anthropic.messages', JSON.parse(json));
const next: number[] = [];
for (let i = 0; i < ITER + 20; i++) {
  const b = JSON.parse(json);
  b.messages.push({ role: 'user', content: `${PROSE}Now fix the retry bug (attempt ${i}).` });
  const t = performance.now();
  await scanRequest(chain, 'anthropic.messages', b);
  if (i >= 20) next.push((performance.now() - t) * 1000);
}
stats('next turn (history cached)', next);

const nocache = compileChain(chainDoc, { cache: false });
const raw: number[] = [];
for (let i = 0; i < Math.min(ITER, 100) + 10; i++) {
  const a = JSON.parse(json);
  const t = performance.now();
  await scanRequest(nocache, 'anthropic.messages', a);
  if (i >= 10) raw.push((performance.now() - t) * 1000);
}
stats('first scan (no cache at all)', raw);

// The other walk every request gets: where tools are declared (src/tools), over the same body.
const declared: number[] = [];
for (let i = 0; i < Math.min(ITER, 100) + 10; i++) {
  const a = JSON.parse(json);
  const t = performance.now();
  findTools('anthropic.messages', a);
  if (i >= 10) declared.push((performance.now() - t) * 1000);
}
stats('tool declarations (findTools)', declared);

// Hostile input: long runs that put a keyword or a number-shaped candidate at every position.
const hostile: [string, string][] = [
  ['runs of A', 'A'.repeat(200_000)],
  ['runs of a digit', '1'.repeat(200_000)],
  ['password= repeated', 'password='.repeat(22_000)],
  ['dotted numbers', '1.'.repeat(100_000)],
  ['eyJ repeated', 'eyJ'.repeat(66_000)],
];
for (const [label, text] of hostile) {
  const t: number[] = [];
  for (let i = 0; i < 12; i++) {
    const a = performance.now();
    await scanRequest(nocache, 'openai.chat', { messages: [{ role: 'user', content: text }] });
    if (i >= 2) t.push(performance.now() - a);
  }
  t.sort((x, y) => x - y);
  const ms = t[t.length >> 1];
  console.log(
    `hostile: ${label.padEnd(22)} ${(text.length / 1000).toFixed(0)} KB in ${ms.toFixed(1)} ms (${(text.length / 1e3 / ms).toFixed(1)} MB/s)`,
  );
}

// ---- Small requests: the gateway's per-call cost ------------------------------------------------

// The chat body bench/gateway.ts sends.
const GATEWAY_CHAT = benchChat();

// A small agent-style chat request, ~3.6 KB: instructions, a tool, one tool round trip, a question.
const SMALL_CHAT = JSON.stringify({
  model: 'gpt-5-mini',
  max_completion_tokens: 512,
  temperature: 0.2,
  messages: [
    {
      role: 'system',
      content: `You are a coding assistant working in the user's repository. ${PROSE.repeat(8)}Prefer small, reviewable changes and explain each one.`,
    },
    { role: 'user', content: `${PROSE}Why does the retry loop in src/client.ts give up too early?` },
    {
      role: 'assistant',
      content: null,
      tool_calls: [
        {
          id: 'call_7fG2kLmN0pQrStUv',
          type: 'function',
          function: { name: 'read_file', arguments: '{"path":"src/client.ts","start":1,"end":80}' },
        },
      ],
    },
    {
      role: 'tool',
      tool_call_id: 'call_7fG2kLmN0pQrStUv',
      content:
        "export async function send(req: Request, attempts = 3): Promise<Response> {\n  for (let i = 0; i < attempts; i++) {\n    const res = await fetch(req);\n    if (res.status < 500) return res;\n    await sleep(100 * 2 ** i);\n  }\n  throw new Error('upstream kept failing');\n}\n",
    },
    {
      role: 'user',
      content:
        'Make it retry on 429 too, and honour Retry-After when the server sends it (seconds or an HTTP date). Keep the backoff for 5xx as it is, and add a test for each case.',
    },
  ],
  tools: [
    {
      type: 'function',
      function: {
        name: 'read_file',
        description: 'Read a range of lines from a file in the repository. Paths are relative to its root.',
        parameters: {
          type: 'object',
          properties: {
            path: { type: 'string', description: 'File path relative to the repository root.' },
            start: { type: 'integer', description: 'First line, 1-based.' },
            end: { type: 'integer', description: 'Last line, inclusive.' },
          },
          required: ['path'],
        },
      },
    },
  ],
  tool_choice: 'auto',
});

// What the simulator answers a non-streamed chat call with (src/simulator/openai.ts), 32 words.
const CHAT_ANSWER = JSON.stringify({
  id: 'chatcmpl-sim-7c1f0a',
  object: 'chat.completion',
  created: 1765000000,
  model: 'gpt-5-mini',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content:
          'A reverse proxy sits in front of one or more servers and forwards client requests to them, hiding their addresses, balancing load, terminating TLS and caching responses so the backends stay simple.',
        refusal: null,
      },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: { prompt_tokens: 24, completion_tokens: 32, total_tokens: 56 },
});

const NOTHING_FOUND: ScanResult = { findings: [], errors: [] };
const kb = (json: string) => `${(json.length / 1000).toFixed(1)} KB`;

const defaultChain = compileChain(parseYaml(readFileSync('policies/guardrails/default.yaml', 'utf8')), {
  cache: new ScanCache(),
});

/**
 * µs per call (median of batches) and bytes allocated per call (median of the batches no garbage
 * collection ran in), for `scan` over freshly parsed copies of `json`, as the gateway parses each call.
 */
function perCall(
  label: string,
  json: string,
  scan: (chain: CompiledChain, surface: Surface, body: unknown) => ScanResult | Promise<ScanResult>,
  surface: Surface,
  fresh?: (body: Record<string, unknown>, i: number) => void,
  BATCH = 200,
) {
  const times: number[] = [];
  const bytes: number[] = [];
  let n = 0;
  for (let b = 0; b < Math.max(20, ITER / 5); b++) {
    const bodies: Record<string, unknown>[] = [];
    for (let i = 0; i < BATCH; i++) {
      const body = JSON.parse(json);
      fresh?.(body, n++);
      bodies.push(body);
    }
    const h0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++) scan(defaultChain, surface, bodies[i]);
    const t1 = performance.now();
    const h1 = process.memoryUsage().heapUsed;
    if (b < 3) continue; // warm-up
    times.push(((t1 - t0) * 1000) / BATCH);
    if (h1 >= h0) bytes.push((h1 - h0) / BATCH);
  }
  const med = (xs: number[]) => xs.sort((x, y) => x - y)[xs.length >> 1] ?? Number.NaN;
  console.log(
    `${label.padEnd(44)} ${med(times).toFixed(2).padStart(7)} µs/call  ${med(bytes).toFixed(0).padStart(6)} B/call allocated (${bytes.length}/${times.length} batches without GC)`,
  );
}

console.log(
  `\nsmall calls, example policy's default chain (gateway body ${GATEWAY_CHAT.length} B, small chat ${kb(SMALL_CHAT)}):`,
);
const newUserText = (body: Record<string, unknown>, i: number) => {
  const messages = body.messages as { content: string }[];
  messages[messages.length - 1].content += ` (call ${i})`;
};
perCall('request: gateway chat body, repeated', GATEWAY_CHAT, scanRequest, 'openai.chat');
perCall('request: gateway chat body, new question', GATEWAY_CHAT, scanRequest, 'openai.chat', newUserText);
perCall(`request: ${kb(SMALL_CHAT)} chat, repeated`, SMALL_CHAT, scanRequest, 'openai.chat');
perCall(
  `request: ${kb(SMALL_CHAT)} chat, new last message`,
  SMALL_CHAT,
  scanRequest,
  'openai.chat',
  newUserText,
);
perCall(
  'tools: gateway chat body (findTools)',
  GATEWAY_CHAT,
  (_c, surface, body) => {
    findTools(surface, body);
    return NOTHING_FOUND;
  },
  'openai.chat',
);
perCall(
  `tools: ${kb(SMALL_CHAT)} chat (findTools)`,
  SMALL_CHAT,
  (_c, surface, body) => {
    findTools(surface, body);
    return NOTHING_FOUND;
  },
  'openai.chat',
);
perCall('response: simulator chat answer, repeated', CHAT_ANSWER, scanResponse, 'openai.chat');
perCall('response: chat answer, new text', CHAT_ANSWER, scanResponse, 'openai.chat', (body, i) => {
  const m = (body.choices as { message: { content: string } }[])[0].message;
  m.content += ` (answer ${i})`;
});

// A streamed answer through the response scanner, driven as the gateway's stream guard drives it:
// each event's text deltas pushed, then how much of each path may be released asked.
const STREAM_EVENTS: unknown[] = [
  { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [] } },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  ...'A reverse proxy sits in front of one or more servers and forwards client requests to them, hiding their addresses, balancing load and terminating TLS so that the backends stay simple.'
    .split(/(?= )/)
    .map((p) => ({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } })),
  { type: 'content_block_stop', index: 0 },
  { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 32 } },
];
const streamThrough = (chain: CompiledChain, surface: Surface, events: unknown) => {
  const scanner = createResponseScanner(chain, surface);
  for (const ev of events as unknown[]) {
    for (const d of streamDeltas(surface, ev)) {
      scanner.push(d.path, d.text);
      scanner.releasableTo(d.path);
    }
  }
  return scanner.end();
};
perCall(
  `stream: ${STREAM_EVENTS.length}-event answer, per call`,
  JSON.stringify(STREAM_EVENTS),
  streamThrough,
  'anthropic.messages',
);
// An agent's long answer: ~1,000 text deltas (~6 KB), where the carry-over window fills and moves on.
const LONG_STREAM = [
  STREAM_EVENTS[0],
  STREAM_EVENTS[1],
  ...Array.from({ length: 30 }, () => STREAM_EVENTS.slice(2, -2)).flat(),
  ...STREAM_EVENTS.slice(-2),
];
perCall(
  `stream: ${LONG_STREAM.length}-event answer, per call`,
  JSON.stringify(LONG_STREAM),
  streamThrough,
  'anthropic.messages',
  undefined,
  10,
);
