// `portcullis audit verify` and `portcullis audit query`: read-only views of the audit log.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatTable, parseTimeArg } from '../audit/query.ts';
import { type AuditEntry, type AuditOutcome, entryLine } from '../audit/record.ts';
import { type AuditFilter, AuditStore } from '../audit/store.ts';
import { verifyAuditLog } from '../audit/verify.ts';

const VERIFY_HELP = `usage: portcullis audit verify [--data-dir DIR] [--json]

Walks the audit log's hash chain and its checkpoint. Exits 0 when the log is intact, 1 at the
first record that was edited, deleted or reordered, or when the end of the log was cut off.

  --data-dir DIR   data directory holding audit.db (default .data)
  --json           print the result as JSON
`;

const OUTCOMES: readonly AuditOutcome[] = ['allowed', 'denied', 'blocked', 'aborted', 'error'];

const QUERY_HELP = `usage: portcullis audit query [filters] [--limit N] [--json]

Prints matching audit records, newest first.

  --data-dir DIR     data directory holding audit.db (default .data)
  --key ID           virtual key id
  --team NAME        team
  --owner NAME       key owner
  --provider ID      provider
  --model NAME       model
  --outcome OUTCOME  ${OUTCOMES.join(' | ')}
  --decision CODE    the decision's code, e.g. model_not_allowed
  --request ID       request id
  --since TIME       at or after TIME: ISO-8601 (2025-06-01, 2025-06-01T12:00:00Z) or ago (30m, 24h, 7d)
  --until TIME       before TIME, same forms
  --limit N          at most N records (default 100; 0 for all)
  --oldest-first     oldest first
  --json             JSON lines {seq, prevHash, hash, record} instead of a table
`;

function fail(command: string, message: string, help: string): number {
  process.stderr.write(`portcullis audit ${command}: ${message}\n\n${help}`);
  return 2;
}

function dbPathOf(dataDir: string | undefined): string {
  return join(dataDir ?? '.data', 'audit.db');
}

export async function verify(args: string[]): Promise<number> {
  let values: { 'data-dir'?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        'data-dir': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return fail('verify', (err as Error).message, VERIFY_HELP);
  }
  if (values.help) {
    process.stdout.write(VERIFY_HELP);
    return 0;
  }
  const dbPath = dbPathOf(values['data-dir']);
  if (!existsSync(dbPath)) {
    process.stderr.write(`portcullis audit verify: no audit log at ${dbPath}\n`);
    return 1;
  }
  const result = verifyAuditLog(dbPath);
  if (values.json) {
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
  return result.ok ? 0 : 1;
}

export async function query(args: string[]): Promise<number> {
  const stringOpt = { type: 'string' } as const;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        'data-dir': stringOpt,
        key: stringOpt,
        team: stringOpt,
        owner: stringOpt,
        provider: stringOpt,
        model: stringOpt,
        outcome: stringOpt,
        decision: stringOpt,
        request: stringOpt,
        since: stringOpt,
        until: stringOpt,
        limit: stringOpt,
        'oldest-first': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return fail('query', (err as Error).message, QUERY_HELP);
  }
  if (values.help) {
    process.stdout.write(QUERY_HELP);
    return 0;
  }
  const str = (name: string) => values[name] as string | undefined;
  const filter: AuditFilter = {
    keyId: str('key'),
    team: str('team'),
    owner: str('owner'),
    provider: str('provider'),
    model: str('model'),
    decisionCode: str('decision'),
    requestId: str('request'),
    order: values['oldest-first'] ? 'asc' : 'desc',
  };
  const outcome = str('outcome');
  if (outcome !== undefined) {
    if (!OUTCOMES.includes(outcome as AuditOutcome)) {
      return fail('query', `--outcome must be one of ${OUTCOMES.join(', ')}`, QUERY_HELP);
    }
    filter.outcome = outcome as AuditOutcome;
  }
  try {
    const now = Date.now();
    const since = str('since');
    const until = str('until');
    if (since !== undefined) filter.sinceMs = parseTimeArg(since, now);
    if (until !== undefined) filter.untilMs = parseTimeArg(until, now);
  } catch (err) {
    return fail('query', (err as Error).message, QUERY_HELP);
  }
  const limitText = str('limit') ?? '100';
  const limit = Number(limitText);
  if (!Number.isSafeInteger(limit) || limit < 0) {
    return fail('query', `--limit must be a whole number, not '${limitText}'`, QUERY_HELP);
  }
  if (limit > 0) filter.limit = limit;

  const dbPath = dbPathOf(str('data-dir'));
  if (!existsSync(dbPath)) {
    process.stderr.write(`portcullis audit query: no audit log at ${dbPath}\n`);
    return 1;
  }
  const store = new AuditStore(dbPath, { readOnly: true });
  let entries: AuditEntry[];
  try {
    entries = store.query(filter);
  } finally {
    store.close();
  }
  if (values.json) {
    process.stdout.write(entries.map((e) => `${entryLine(e)}\n`).join(''));
  } else if (entries.length === 0) {
    process.stderr.write('no matching records\n');
  } else {
    process.stdout.write(formatTable(entries));
  }
  return 0;
}
