// Generates src/policy/generated/*.ts from schemas/*.schema.json. With --check, fails when the
// checked-in files differ from what the schemas produce (CI runs this).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from 'json-schema-to-typescript';
import { REPO_ROOT } from '../src/toolchain/tools.ts';

const schemasDir = join(REPO_ROOT, 'schemas');
const outDir = join(REPO_ROOT, 'src', 'policy', 'generated');
const check = process.argv.includes('--check');

const banner = `// Generated from schemas/ by scripts/generate-types.ts — do not edit; run \`npm run types:generate\`.`;

let stale = 0;
mkdirSync(outDir, { recursive: true });
const files = readdirSync(schemasDir)
  .filter((f) => f.endsWith('.schema.json'))
  .sort();
const index: string[] = [banner];
for (const file of files) {
  const schema = JSON.parse(readFileSync(join(schemasDir, file), 'utf8'));
  const ts = await compile(schema, schema.title, {
    bannerComment: banner,
    additionalProperties: false,
    strictIndexSignatures: true,
    format: true,
    maxItems: -1,
    style: { singleQuote: true, printWidth: 110 },
  });
  const base = file.replace('.schema.json', '');
  index.push(`export type * from './${base}.ts';`);
  stale += emit(join(outDir, `${base}.ts`), ts);
}
stale += emit(join(outDir, 'index.ts'), `${index.join('\n')}\n`);

function emit(path: string, content: string): number {
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {}
  if (current === content) return 0;
  if (check) {
    process.stderr.write(`stale: ${path} (run npm run types:generate)\n`);
    return 1;
  }
  writeFileSync(path, content);
  return 0;
}

if (check && stale > 0) process.exitCode = 1;
else process.stderr.write(`types ${check ? 'up to date' : 'generated'}: ${files.length} schemas\n`);
