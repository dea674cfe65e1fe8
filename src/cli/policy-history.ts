// `portcullis policy history --key ID | --team ID`: every commit that changed one policy object.
import { parseArgs } from 'node:util';
import { openPolicyRepo } from '../policyci/git-tree.ts';
import { policyHistory } from '../policyci/history.ts';

const HELP = `usage: portcullis policy history (--key ID | --team ID) [--dir policies] [--json]

Lists each commit that changed a virtual key or a team (for a team: the team itself and keys
joining or leaving it), newest first: author, date, message and what changed, in words.

  --key ID        a VirtualKey's name
  --team ID       a Team's name
  --dir DIR       the policy directory inside the git repository (default policies)
  --limit N       look at the newest N commits touching the policy directory only
  --json          JSON instead of text
`;

export async function history(args: string[]): Promise<number> {
  let values: { key?: string; team?: string; dir?: string; limit?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        key: { type: 'string' },
        team: { type: 'string' },
        dir: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`portcullis policy history: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (Boolean(values.key) === Boolean(values.team)) {
    process.stderr.write(`portcullis policy history: give exactly one of --key or --team\n\n${HELP}`);
    return 2;
  }
  const target = values.key ? `VirtualKey/${values.key}` : `Team/${values.team}`;
  let entries: Awaited<ReturnType<typeof policyHistory>>;
  try {
    const repo = await openPolicyRepo(values.dir ?? 'policies');
    entries = await policyHistory(repo, target, {
      maxCount: values.limit ? Number(values.limit) : undefined,
    });
  } catch (e) {
    process.stderr.write(`portcullis policy history: ${(e as Error).message}\n`);
    return 2;
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ target, commits: entries }, null, 2)}\n`);
    return 0;
  }
  if (entries.length === 0) {
    process.stdout.write(`No commit changed ${target}.\n`);
    return 0;
  }
  for (const e of entries) {
    const lines = [`${e.commit.slice(0, 12)}  ${e.date}  ${e.author} <${e.email}>`, `    ${e.subject}`];
    for (const c of e.changes) lines.push(`    ${c.risk ? '⚠' : '-'} ${c.summary}`);
    process.stdout.write(`${lines.join('\n')}\n\n`);
  }
  return 0;
}
