// Walks the hash chain and the checkpoint and reports the first place where the log is not what
// the gateway wrote.
import { type Checkpoint, checkpointPath, readCheckpoint } from './checkpoint.ts';
import { type AuditRecord, chainHash, GENESIS_HASH } from './record.ts';
import { AuditStore, INDEXED_COLUMN_NAMES, indexedColumns, type StoredRow } from './store.ts';

export type VerifyProblemKind =
  /** A record's content (or an indexed column) no longer matches its hash. */
  | 'edited'
  /** A sequence number is missing. */
  | 'deleted'
  /** A record does not chain to the one before it: moved, inserted, or rewritten with its hash. */
  | 'reordered'
  /** The table ends before the checkpoint. */
  | 'truncated'
  /** The checkpoint is missing or disagrees with the record it names. */
  | 'checkpoint';

export interface VerifyProblem {
  /** The first sequence number that is not as written. */
  seq: number;
  kind: VerifyProblemKind;
  reason: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Rows read before the walk stopped. */
  records: number;
  lastSeq: number;
  headHash: string;
  checkpoint: Checkpoint | null;
  problem?: VerifyProblem;
}

export function verifyAuditLog(dbPath: string, options: { checkpointPath?: string } = {}): VerifyResult {
  // The checkpoint first: the gateway writes it after each commit, so one read now can only be at or
  // behind the rows read next, never ahead of them.
  let checkpoint: Checkpoint | null = null;
  let unreadable: string | undefined;
  try {
    checkpoint = readCheckpoint(options.checkpointPath ?? checkpointPath(dbPath));
  } catch (err) {
    unreadable = err instanceof Error ? err.message : String(err);
  }
  const store = new AuditStore(dbPath, { readOnly: true });
  let result: VerifyResult;
  try {
    result = walk(store, checkpoint);
  } finally {
    store.close();
  }
  if (unreadable !== undefined && (result.ok || result.problem?.kind === 'checkpoint')) {
    const reason = `the checkpoint file is unreadable (${unreadable})`;
    return { ...result, ok: false, problem: { seq: result.lastSeq, kind: 'checkpoint', reason } };
  }
  return result;
}

function walk(store: AuditStore, checkpoint: Checkpoint | null): VerifyResult {
  let expected = 1;
  let prev = GENESIS_HASH;
  let records = 0;
  let hashAtCheckpoint: string | undefined = checkpoint?.seq === 0 ? GENESIS_HASH : undefined;
  const result = (problem?: VerifyProblem): VerifyResult => ({
    ok: problem === undefined,
    records,
    lastSeq: expected - 1,
    headHash: prev,
    checkpoint,
    ...(problem ? { problem } : {}),
  });

  for (const row of store.rows()) {
    records += 1;
    const problem = checkRow(row, expected, prev);
    if (problem) return result(problem);
    prev = row.hash;
    if (checkpoint && row.seq === checkpoint.seq) hashAtCheckpoint = row.hash;
    expected += 1;
  }

  const last = expected - 1;
  if (!checkpoint) {
    if (last === 0) return result();
    return result({
      seq: last,
      kind: 'checkpoint',
      reason: `the checkpoint file is missing while the log holds ${last} records, so a cut-off tail would go unnoticed`,
    });
  }
  if (checkpoint.seq > last) {
    return result({
      seq: last + 1,
      kind: 'truncated',
      reason: `the log ends at seq ${last} but the checkpoint records seq ${checkpoint.seq}: records were removed from the end`,
    });
  }
  if (hashAtCheckpoint !== checkpoint.hash) {
    return result({
      seq: checkpoint.seq,
      kind: 'checkpoint',
      reason: `the record at seq ${checkpoint.seq} does not have the hash the checkpoint holds: the log was rewritten from there, or the checkpoint replaced`,
    });
  }
  return result();
}

function checkRow(row: StoredRow, expected: number, prev: string): VerifyProblem | undefined {
  if (row.seq !== expected) {
    const missing = row.seq - expected === 1 ? `${expected}` : `${expected}..${row.seq - 1}`;
    return {
      seq: expected,
      kind: 'deleted',
      reason: `sequence gap: seq ${missing} missing, the next row is seq ${row.seq} (records deleted)`,
    };
  }
  if (row.prev_hash !== prev) {
    return {
      seq: row.seq,
      kind: 'reordered',
      reason: `prev-hash mismatch: seq ${row.seq} does not chain to seq ${row.seq - 1} (records reordered, inserted, or rewritten)`,
    };
  }
  if (chainHash(row.prev_hash, row.record) !== row.hash) {
    return {
      seq: row.seq,
      kind: 'edited',
      reason: `hash mismatch: the content of seq ${row.seq} is not what was hashed (record edited)`,
    };
  }
  let record: AuditRecord;
  try {
    record = JSON.parse(row.record) as AuditRecord;
  } catch {
    return { seq: row.seq, kind: 'edited', reason: `seq ${row.seq} does not hold valid JSON` };
  }
  const expectedCols = indexedColumns(record);
  for (const c of INDEXED_COLUMN_NAMES) {
    if (row[c] !== expectedCols[c]) {
      return {
        seq: row.seq,
        kind: 'edited',
        reason: `column ${c} of seq ${row.seq} disagrees with the hashed record (column edited, so filters would lie)`,
      };
    }
  }
  return undefined;
}
