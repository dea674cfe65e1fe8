// `portcullis policy diff <base> <head>`: what a policy change does, for a PR comment or tooling.
import { existsSync, statSync } from 'node:fs';
import { diffJson, diffMarkdown } from '../policyci/diff-report.ts';
import { diffPolicyDirs } from '../policyci/semantic-diff.ts';
import { openSides } from '../policyci/sides.ts';
import { EXIT, usageError } from './errors.ts';
import type { ParsedOptions } from './program.ts';

export async function diff(args: string[], opts: ParsedOptions): Promise<number> {
  const asJson = opts.json === true || opts.format === 'json';
  const twoDirs = args.every((a) => existsSync(a) && statSync(a).isDirectory());
  if (!twoDirs && !existsSync(String(opts.dir)))
    throw usageError(
      `no policy directory '${opts.dir}' here, so there is nothing to compare`,
      'run in the policy repository and give the policy directory inside it with --dir (e.g. --dir .)',
    );
  let sides: Awaited<ReturnType<typeof openSides>>;
  try {
    sides = await openSides(args[0], args[1], String(opts.dir));
  } catch (e) {
    throw usageError((e as Error).message);
  }
  try {
    const changes = diffPolicyDirs(sides.base.dir, sides.head.dir);
    const labels = { base: sides.base.label, head: sides.head.label };
    process.stdout.write(
      asJson ? `${JSON.stringify(diffJson(changes, labels), null, 2)}\n` : diffMarkdown(changes, labels),
    );
    return opts.failOnRisk && changes.some((c) => c.risk) ? EXIT.invalid : EXIT.ok;
  } finally {
    sides.close();
  }
}
