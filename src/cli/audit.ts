// `portcullis audit verify` and `portcullis audit query`: read-only views of the audit log.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatTable, parseTimeArg } from '../audit/query.ts';
import { type AuditEntry, type AuditOutcome, entryLine } from '../audit/record.ts';
import { type AuditFilter, AuditStore } from '../audit/store.ts';
import { verifyAuditLog } from '../audit/verify.ts';
import { CliError, EXIT, usageError } from './errors.ts';
import type { ParsedOptions } from './program.ts';

/** audit.db in the data directory, which must exist: saying where to look beats an empty answer. */
function auditDb(dataDir: unknown): string {
  const dir = String(dataDir ?? '.data');
  const dbPath = join(dir, 'audit.db');
  if (existsSync(dbPath)) return dbPath;
  const demo = join(dir, 'demo', 'audit.db');
  throw new CliError(`no audit log at ${dbPath}`, {
    exitCode: EXIT.invalid,
    hint: existsSync(demo)
      ? `npm start writes its log under ${join(dir, 'demo')}: use --data-dir ${join(dir, 'demo')}`
      : 'give the --data-dir the gateway was started with (portcullis serve --data-dir, default .data)',
  });
}

export async function verify(_args: string[], opts: ParsedOptions): Promise<number> {
  const dbPath = auditDb(opts.dataDir);
  const result = verifyAuditLog(dbPath);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else if (result.problem) {
    const p = result.problem;
    process.stdout.write(
      `audit log ${dbPath}: FAILED at seq ${p.seq} (${p.kind})\n  ${p.reason}\n` +
        `  the chain holds up to seq ${result.lastSeq}\n`,
    );
  } else {
    const cp = result.checkpoint ? `checkpoint at seq ${result.checkpoint.seq}` : 'empty log';
    process.stdout.write(
      `audit log ${dbPath}: OK, ${result.records} records (seq 1..${result.lastSeq}), ${cp}\n` +
        `  head ${result.headHash}\n`,
    );
  }
  return result.ok ? EXIT.ok : EXIT.invalid;
}

export async function query(_args: string[], opts: ParsedOptions): Promise<number> {
  const str = (name: string) => opts[name] as string | undefined;
  const remote = str('gateway');
  if (remote !== undefined) {
    // A remote gateway answers for the signed-in person, who needs the auditor role.
    const names = [
      'key',
      'team',
      'owner',
      'provider',
      'model',
      'outcome',
      'decision',
      'request',
      'since',
      'until',
      'limit',
    ];
    const filters: Record<string, string | undefined> = Object.fromEntries(names.map((n) => [n, str(n)]));
    if (opts.oldestFirst) filters.order = 'asc';
    return (await import('./identity.ts')).remoteAuditQuery(remote, filters, opts.json === true);
  }
  const filter: AuditFilter = {
    keyId: str('key'),
    team: str('team'),
    owner: str('owner'),
    provider: str('provider'),
    model: str('model'),
    decisionCode: str('decision'),
    requestId: str('request'),
    order: opts.oldestFirst ? 'asc' : 'desc',
  };
  const outcome = str('outcome');
  if (outcome !== undefined) filter.outcome = outcome as AuditOutcome;
  try {
    const now = Date.now();
    const since = str('since');
    const until = str('until');
    if (since !== undefined) filter.sinceMs = parseTimeArg(since, now);
    if (until !== undefined) filter.untilMs = parseTimeArg(until, now);
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const limitText = str('limit') ?? '100';
  const limit = Number(limitText);
  if (!Number.isSafeInteger(limit) || limit < 0)
    throw usageError(`--limit must be a whole number, not '${limitText}'`);
  if (limit > 0) filter.limit = limit;

  const store = new AuditStore(auditDb(opts.dataDir), { readOnly: true });
  let entries: AuditEntry[];
  try {
    entries = store.query(filter);
  } finally {
    store.close();
  }
  if (opts.json) {
    process.stdout.write(entries.map((e) => `${entryLine(e)}\n`).join(''));
  } else if (entries.length === 0) {
    process.stderr.write('no matching records\n');
  } else {
    process.stdout.write(formatTable(entries));
  }
  return EXIT.ok;
}
