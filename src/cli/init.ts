// `portcullis init <dir>`: scaffold a policy repository for a platform team.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_ACTION, scaffoldPolicyRepo, TargetNotEmptyError } from '../policyci/scaffold.ts';

const HELP = `usage: portcullis init <dir> [--owners @org/team,...] [--action OWNER/REPO/PATH@REF]

Creates a policy repository in <dir> (which must be new or empty): the example policy with fresh
random key hashes (no key works until you create one), JSON Schemas for editor completion, a
GitHub Actions workflow running the policy checks, CODEOWNERS and a README.

  --owners LIST   CODEOWNERS owners, comma-separated (default @your-org/platform-team)
  --action REF    the policy-check action to call (default ${DEFAULT_ACTION})
`;

export async function init(args: string[]): Promise<number> {
  let parsed: { values: { owners?: string; action?: string; help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        owners: { type: 'string' },
        action: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`portcullis init: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`portcullis init: expected one directory\n\n${HELP}`);
    return 2;
  }
  const target = resolve(positionals[0]);
  try {
    const files = scaffoldPolicyRepo(target, {
      action: values.action,
      owners: values.owners
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    });
    process.stdout.write(
      `✓ created a policy repository in ${target} (${files.length} files)\n` +
        `Next: cd ${positionals[0]} && git init && portcullis policy validate . && portcullis keys create --dir . …\n`,
    );
    return 0;
  } catch (e) {
    if (e instanceof TargetNotEmptyError) {
      process.stderr.write(`portcullis init: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
