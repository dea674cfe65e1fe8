// Guardrail chain speed on a realistic coding-agent prompt: ~100 KB of Anthropic Messages history
// (system prompt, prose, tool calls, tool results holding source files and shell output, a few
// secrets). Prints p50/p99 for a first scan (empty cache) and for the next turn (same history plus
// one new message, so only the new message is scanned).
//   node_modules/.bin/node bench/guardrails.ts [iterations]
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileChain, ScanCache, scanRequest } from '../src/guardrails/index.ts';

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

// First scan: nothing cached.
const first: number[] = [];
let findings = 0;
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
