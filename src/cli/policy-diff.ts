// `portcullis policy diff <base> <head>`: what a policy change does, for a PR comment or tooling.
import { parseArgs } from 'node:util';
import { diffJson, diffMarkdown } from '../policyci/diff-report.ts';
import { diffPolicyDirs } from '../policyci/semantic-diff.ts';
import { openSides } from '../policyci/sides.ts';

const HELP = `usage: portcullis policy diff <base> <head> [--dir policies] [--format markdown|json]

Explains what changes between two versions of a policy: keys added, removed, disabled; budgets,
rate limits, models, providers and tool scopes widened or narrowed; guardrail chains weakened;
gateway settings; Rego files. Changes that widen access or weaken a guardrail are flagged.

  <base> <head>     git revisions of the repository holding --dir, or two policy directories
  --dir DIR         the policy directory inside the repository (default policies)
  --format FORMAT   markdown (default, for a pull-request comment) or json
  --fail-on-risk    exit 1 when any change is flagged
`;

export async function diff(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (e) {
    process.stderr.write(`portcullis policy diff: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const format = values.format ?? 'markdown';
  if (positionals.length !== 2 || (format !== 'markdown' && format !== 'json')) {
    process.stderr.write(
      `portcullis policy diff: expected <base> <head> and --format markdown|json\n\n${HELP}`,
    );
    return 2;
  }
  let sides: Awaited<ReturnType<typeof openSides>>;
  try {
    sides = await openSides(positionals[0], positionals[1], values.dir ?? 'policies');
  } catch (e) {
    process.stderr.write(`portcullis policy diff: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    const changes = diffPolicyDirs(sides.base.dir, sides.head.dir);
    const labels = { base: sides.base.label, head: sides.head.label };
    process.stdout.write(
      format === 'json'
        ? `${JSON.stringify(diffJson(changes, labels), null, 2)}\n`
        : diffMarkdown(changes, labels),
    );
    return values['fail-on-risk'] && changes.some((c) => c.risk) ? 1 : 0;
  } finally {
    sides.close();
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      dir: { type: 'string' },
      format: { type: 'string' },
      'fail-on-risk': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
