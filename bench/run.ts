// `npm run bench [name…] [-- --flag…]`: runs the benchmarks in bench/ one after another (never in
// parallel: they measure the machine), printing each one's numbers. Names select a subset, e.g.
// `npm run bench gateway`; from the first argument starting with `-` on, arguments go to each
// benchmark run (`npm run bench gateway -- --rounds 3`).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => basename(f, '.ts'))
  .sort();
/** Run only when named: it clones and installs from the registries for minutes. */
const BY_NAME_ONLY = ['first-start'];
const args = process.argv.slice(2);
const firstFlag = args.findIndex((a) => a.startsWith('-'));
const wanted = firstFlag === -1 ? args : args.slice(0, firstFlag);
const flags = firstFlag === -1 ? [] : args.slice(firstFlag);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  process.stderr.write(`no such benchmark: ${unknown.join(', ')} (have: ${all.join(', ')})\n`);
  process.exit(2);
}
const failed: string[] = [];
for (const name of wanted.length > 0 ? wanted : all.filter((n) => !BY_NAME_ONLY.includes(n))) {
  process.stdout.write(`\n=== bench/${name}.ts ===\n`);
  const r = spawnSync(process.execPath, [join(dir, `${name}.ts`), ...flags], { stdio: 'inherit' });
  if (r.status !== 0) failed.push(name);
}
if (failed.length > 0) {
  process.stderr.write(`\nfailed: ${failed.join(', ')}\n`);
  process.exitCode = 1;
}
