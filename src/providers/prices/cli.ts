// `portcullis prices check [dir]`: every Provider's model prices against the maintained list.
import { parseArgs } from 'node:util';
import { checkProviderPrices, type PriceFinding } from './check.ts';
import { buildSnapshotNoCompile } from './load.ts';

const USAGE = 'usage: portcullis prices check [policy-dir] [--json] [--warn-only]\n';

function line(f: PriceFinding): string {
  const mark = f.status === 'ok' ? 'ok        ' : f.status.padEnd(10);
  return `${mark} ${f.provider}/${f.model}${f.match !== undefined && !f.match.endsWith(`/${f.model}`) ? ` (as ${f.match})` : ''}${f.detail === undefined ? '' : ` — ${f.detail}`}`;
}

export async function pricesCheck(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      'warn-only': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const dir = positionals[0] ?? 'policies';
  const providers = buildSnapshotNoCompile(dir);
  const findings = checkProviderPrices(providers);
  if (values.json) process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
  else {
    for (const f of findings) process.stdout.write(`${line(f)}\n`);
    const bad = findings.filter((f) => f.status !== 'ok').length;
    process.stdout.write(
      `${findings.length} models checked against @pydantic/genai-prices: ${findings.length - bad} as listed, ${bad} to review\n`,
    );
  }
  return findings.some((f) => f.status !== 'ok') && values['warn-only'] !== true ? 1 : 0;
}
