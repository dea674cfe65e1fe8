// `portcullis policy history --key ID | --team ID`: every commit that changed one policy object.
import { openPolicyRepo } from '../policyci/git-tree.ts';
import { policyHistory } from '../policyci/history.ts';
import { EXIT, usageError } from './errors.ts';
import type { ParsedOptions } from './program.ts';

export async function history(_args: string[], opts: ParsedOptions): Promise<number> {
  const key = opts.key as string | undefined;
  const team = opts.team as string | undefined;
  if (Boolean(key) === Boolean(team)) throw usageError('give exactly one of --key or --team');
  const limit = opts.limit === undefined ? undefined : Number(opts.limit);
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit <= 0))
    throw usageError(`--limit must be a positive whole number, not '${opts.limit}'`);
  const target = key ? `VirtualKey/${key}` : `Team/${team}`;
  let entries: Awaited<ReturnType<typeof policyHistory>>;
  try {
    const repo = await openPolicyRepo(String(opts.dir));
    entries = await policyHistory(repo, target, { maxCount: limit });
  } catch (e) {
    throw usageError((e as Error).message.split('\n')[0]);
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ target, commits: entries }, null, 2)}\n`);
    return EXIT.ok;
  }
  if (entries.length === 0) {
    process.stdout.write(`No commit changed ${target}.\n`);
    return EXIT.ok;
  }
  for (const e of entries) {
    const lines = [`${e.commit.slice(0, 12)}  ${e.date}  ${e.author} <${e.email}>`, `    ${e.subject}`];
    for (const c of e.changes) lines.push(`    ${c.risk ? '⚠' : '-'} ${c.summary}`);
    process.stdout.write(`${lines.join('\n')}\n\n`);
  }
  return EXIT.ok;
}
