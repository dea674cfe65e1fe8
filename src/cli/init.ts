// `portcullis init <dir>`: scaffold a policy repository for a platform team, and say what to do next
// with commands that work as printed.
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { scaffoldPolicyRepo } from '../policyci/scaffold.ts';
import { EXIT, usageError } from './errors.ts';
import { json, ok, out } from './output.ts';
import { type ParsedOptions, packageVersion } from './program.ts';
import { selfCommand } from './self.ts';

export async function init(args: string[], opts: ParsedOptions): Promise<number> {
  const given = args[0];
  const target = resolve(given);
  if (existsSync(target) && readdirSync(target).length > 0)
    throw usageError(`${target} is not empty; init only writes into a new or empty directory`);
  const cli = (opts.cli as string | undefined) ?? `portcullis@${packageVersion()}`;
  const files = scaffoldPolicyRepo(target, {
    cliPackage: cli,
    owners: String(opts.owners)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  });
  const portcullis = selfCommand();
  const steps = [
    `cd ${given}`,
    'git init -q && git add -A && git commit -qm "Policy from portcullis init"',
    `${portcullis} policy validate .`,
    `${portcullis} policy test .`,
    `${portcullis} keys create my-laptop --dir . --owner you@example.com --team app-dev --models "claude-haiku-*"`,
    `${portcullis} serve --policy . --port 8080`,
  ];
  if (opts.json) {
    json({ dir: target, files, next: steps });
    return EXIT.ok;
  }
  ok(`created a policy repository in ${target} (${files.length} files)`);
  out(`\nNext:\n${steps.map((s) => `  ${s}`).join('\n')}\n`);
  out(`CI (.github/workflows/policy.yml) installs the CLI with: npm install -g ${cli}`);
  return EXIT.ok;
}
