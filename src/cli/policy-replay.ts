// `portcullis policy replay`: which recorded calls a policy change would decide differently.
import { parseTimeArg } from '../audit/query.ts';
import { buildSnapshot } from '../policy/build-snapshot.ts';
import { PolicyInvalidError } from '../policy/problems.ts';
import type { Snapshot } from '../policy/snapshot.ts';
import { readAuditRecords, replayMarkdown, replayRecords } from '../policyci/replay.ts';
import { openSides, type Side } from '../policyci/sides.ts';
import { EXIT, usageError } from './errors.ts';
import type { ParsedOptions } from './program.ts';

export async function replay(_args: string[], opts: ParsedOptions): Promise<number> {
  const { audit, base, head } = opts as { audit?: string; base?: string; head?: string };
  const missing = (['audit', 'base', 'head'] as const).filter((k) => !opts[k]).map((k) => `--${k}`);
  if (missing.length > 0 || !audit || !base || !head)
    throw usageError(
      `missing ${missing.join(', ')}`,
      'e.g. portcullis policy replay --audit .data --base main --head HEAD',
    );
  const asJson = opts.json === true || opts.format === 'json';
  const since = String(opts.since);
  let sinceMs: number | undefined;
  try {
    sinceMs = since === 'all' ? undefined : parseTimeArg(since);
  } catch (e) {
    throw usageError((e as Error).message);
  }
  let sides: Awaited<ReturnType<typeof openSides>>;
  try {
    sides = await openSides(base, head, String(opts.dir));
  } catch (e) {
    throw usageError((e as Error).message);
  }
  try {
    const records = readAuditRecords(audit, sinceMs);
    const baseSnap = await snapshotOf(sides.base, 'base');
    const headSnap = await snapshotOf(sides.head, 'head');
    const result = replayRecords(records, baseSnap, headSnap);
    process.stdout.write(
      asJson
        ? `${JSON.stringify({ ...result, since: sinceMs === undefined ? null : new Date(sinceMs).toISOString() }, null, 2)}\n`
        : replayMarkdown(result, since === 'all' ? undefined : since),
    );
    return opts.failOnChange && result.changed > 0 ? EXIT.invalid : EXIT.ok;
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
