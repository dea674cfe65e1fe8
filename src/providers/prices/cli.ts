// `portcullis prices check [dir]`: every Provider's model prices against the maintained list.
import type { ParsedOptions } from '../../cli/program.ts';
import { checkProviderPrices, type PriceFinding } from './check.ts';
import { buildSnapshotNoCompile } from './load.ts';

function line(f: PriceFinding): string {
  const as = f.match !== undefined && !f.match.endsWith(`/${f.model}`) ? ` (as ${f.match})` : '';
  return `${f.status.padEnd(10)} ${f.provider}/${f.model}${as}${f.detail === undefined ? '' : ` — ${f.detail}`}`;
}

export async function pricesCheck(args: string[], options: ParsedOptions): Promise<number> {
  const findings = checkProviderPrices(buildSnapshotNoCompile(args[0] ?? 'policies'));
  if (options.json === true) process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
  else {
    for (const f of findings) process.stdout.write(`${line(f)}\n`);
    const bad = findings.filter((f) => f.status !== 'ok').length;
    process.stdout.write(
      `${findings.length} models checked against @pydantic/genai-prices: ${findings.length - bad} as listed, ${bad} to review\n`,
    );
  }
  return findings.some((f) => f.status !== 'ok') && options.warnOnly !== true ? 1 : 0;
}
