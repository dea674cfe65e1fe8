// `portcullis policy replay`: which recorded calls a policy change would decide differently.
import { parseArgs } from 'node:util';
import { parseTimeArg } from '../audit/query.ts';
import { buildSnapshot } from '../policy/build-snapshot.ts';
import { formatProblem, PolicyInvalidError } from '../policy/problems.ts';
import type { Snapshot } from '../policy/snapshot.ts';
import { readAuditRecords, replayMarkdown, replayRecords } from '../policyci/replay.ts';
import { openSides, type Side } from '../policyci/sides.ts';

const HELP = `usage: portcullis policy replay --audit PATH --base REV --head REV [--dir policies] [--since 7d]

Re-evaluates recorded calls from the audit log under two policy versions and reports every call
whose decision would change, grouped by key and reason. Budget and rate-limit usage is not replayed.

  --audit PATH      a data directory holding audit.db, or the audit.db file
  --base REV        git revision (or directory) of the current policy
  --head REV        git revision (or directory) of the proposed policy
  --dir DIR         the policy directory inside the repository (default policies)
  --since TIME      only calls at or after TIME: ISO-8601 or ago (24h, 7d; default 7d; 'all' for every call)
  --format FORMAT   markdown (default) or json
  --fail-on-change  exit 1 when any decision changes
`;

export async function replay(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        audit: { type: 'string' },
        base: { type: 'string' },
        head: { type: 'string' },
        dir: { type: 'string' },
        since: { type: 'string' },
        format: { type: 'string' },
        'fail-on-change': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    return usageError((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const { audit, base, head } = values as { audit?: string; base?: string; head?: string };
  if (!audit || !base || !head) return usageError('--audit, --base and --head are required');
  const format = (values.format as string | undefined) ?? 'markdown';
  if (format !== 'markdown' && format !== 'json') return usageError('--format is markdown or json');
  const since = (values.since as string | undefined) ?? '7d';
  let sinceMs: number | undefined;
  try {
    sinceMs = since === 'all' ? undefined : parseTimeArg(since);
  } catch (e) {
    return usageError((e as Error).message);
  }

  let sides: Awaited<ReturnType<typeof openSides>>;
  try {
    sides = await openSides(base, head, (values.dir as string | undefined) ?? 'policies');
  } catch (e) {
    process.stderr.write(`portcullis policy replay: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    const records = readAuditRecords(audit, sinceMs);
    const baseSnap = await snapshotOf(sides.base, 'base');
    const headSnap = await snapshotOf(sides.head, 'head');
    const result = replayRecords(records, baseSnap, headSnap);
    process.stdout.write(
      format === 'json'
        ? `${JSON.stringify({ ...result, since: sinceMs === undefined ? null : new Date(sinceMs).toISOString() }, null, 2)}\n`
        : replayMarkdown(result, since === 'all' ? undefined : since),
    );
    return values['fail-on-change'] && result.changed > 0 ? 1 : 0;
  } catch (e) {
    if (e instanceof PolicyInvalidError) {
      for (const p of e.problems) process.stderr.write(`${formatProblem(p)}\n`);
    }
    process.stderr.write(`portcullis policy replay: ${(e as Error).message.split('\n')[0]}\n`);
    return 1;
  } finally {
    sides.close();
  }
}

async function snapshotOf(side: Side, which: string): Promise<Snapshot> {
  try {
    return await buildSnapshot({
      dir: side.dir,
      source: { revision: side.commit ?? side.label, dir: side.dir },
    });
  } catch (e) {
    if (e instanceof PolicyInvalidError) e.message = `the ${which} policy (${side.label}) is invalid`;
    throw e;
  }
}

function usageError(message: string): number {
  process.stderr.write(`portcullis policy replay: ${message}\n\n${HELP}`);
  return 2;
}
