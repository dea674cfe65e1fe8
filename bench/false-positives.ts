// False positives on real files that hold no secrets: source and config files from installed packages
// (node_modules), each sent as a tool result through the example policy's chains. Reports how many
// files the `strict` chain would refuse (secrets and card/SSN/IBAN numbers block) and how many the
// `default` chain would redact a "credential" in, with the rules that fired. Target: under 1 % blocked.
//   node_modules/.bin/node bench/false-positives.ts [--files 600] [--list]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { compileChain, scanRequest } from '../src/guardrails/index.ts';

const { values } = parseArgs({
  options: { files: { type: 'string', default: '600' }, list: { type: 'boolean', default: false } },
});
const WANT = Number(values.files);
const KINDS = /\.(?:js|mjs|cjs|ts|d\.ts|json|ya?ml|md|toml|ini|sh|py|txt)$/;
const SKIP = /^(?:\.bin|\.cache|test|tests|__tests__|fixtures|examples?)$/;

function walk(dir: string, out: string[]): void {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP.test(e.name)) walk(p, out);
    } else if (e.isFile() && KINDS.test(e.name)) out.push(p);
  }
}

const all: string[] = [];
walk('node_modules', all);
all.sort();
// An even spread over every package, files between 200 bytes and 256 KB.
const step = Math.max(1, Math.floor(all.length / (WANT * 2)));
const files: string[] = [];
for (let i = 0; i < all.length && files.length < WANT; i += step) {
  const size = statSync(all[i]).size;
  if (size >= 200 && size <= 256 * 1024) files.push(all[i]);
}

function chain(name: string) {
  const text = readFileSync(join('policies', 'guardrails', `${name}.yaml`), 'utf8');
  const doc = parseAllDocuments(text)[0].toJS();
  return compileChain(doc, { cache: false });
}
const strict = chain('strict');
const dflt = chain('default');

let blocked = 0;
let redacted = 0;
let bytes = 0;
const rules = new Map<string, number>();
const hits: string[] = [];
const started = performance.now();
for (const f of files) {
  const text = readFileSync(f, 'utf8');
  bytes += text.length;
  const body = {
    messages: [
      { role: 'user', content: 'What does this file do?' },
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: 'toolu_1', name: 'Read', input: { file_path: f } }],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: text }] },
    ],
  };
  const s = await scanRequest(strict, 'anthropic.messages', body);
  const blocks = s.findings.filter((x) => x.action === 'block');
  if (blocks.length > 0) {
    blocked++;
    for (const b of blocks) rules.set(b.rule, (rules.get(b.rule) ?? 0) + 1);
    hits.push(`${f}: ${[...new Set(blocks.map((b) => b.rule))].join(', ')}`);
  }
  const d = await scanRequest(dflt, 'anthropic.messages', body);
  if (d.findings.some((x) => x.action === 'redact')) redacted++;
}
const ms = performance.now() - started;
const pct = (n: number) => `${((100 * n) / files.length).toFixed(2)} %`;
console.log(
  `${files.length} files from ${all.length} in node_modules, ${(bytes / 1e6).toFixed(1)} MB, ${ms.toFixed(0)} ms`,
);
console.log(`blocked by the strict chain:          ${blocked} (${pct(blocked)})   target < 1 %`);
console.log(`redacted something (default chain):   ${redacted} (${pct(redacted)})`);
if (rules.size > 0) console.log(`rules that blocked: ${JSON.stringify(Object.fromEntries(rules))}`);
if (values.list) for (const h of hits) console.log(`  ${h}`);
