// The audit trail: what the request pipeline and the CLI use.
export { type Checkpoint, checkpointPath, readCheckpoint } from './checkpoint.ts';
export { AuditIntegrityError, AuditLog, type AuditLogOptions, AuditQueueFullError } from './log.ts';
export { type AuditMetrics, auditMetrics } from './metrics.ts';
export { formatTable, parseTimeArg } from './query.ts';
export {
  type AuditBudget,
  type AuditDecision,
  type AuditEntry,
  type AuditOutcome,
  type AuditRecord,
  canonicalJson,
  chainHash,
  entryLine,
  GENESIS_HASH,
  normalizeRecord,
} from './record.ts';
export {
  type AuditSink,
  type AuditSinkConfig,
  createSink,
  type HeaderValue,
  HttpSink,
  type HttpSinkConfig,
  JsonlSink,
  type JsonlSinkConfig,
} from './sinks/index.ts';
export type { AuditLogger } from './sinks/runner.ts';
export { type AuditFilter, AuditStore } from './store.ts';
export { type VerifyProblem, type VerifyProblemKind, type VerifyResult, verifyAuditLog } from './verify.ts';
