// Reading the audit log back: time arguments, and the aligned table the CLI prints.
import type { AuditEntry, AuditRecord } from './record.ts';

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * Epoch milliseconds for `--since`/`--until`: an ISO-8601 date or time (`2025-06-01`,
 * `2025-06-01T12:00:00Z`), or a duration before `now` (`90s`, `30m`, `24h`, `7d`, `2w`).
 */
export function parseTimeArg(text: string, now: number = Date.now()): number {
  const rel = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]];
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) {
    throw new Error(`'${text}' is neither an ISO-8601 time nor a duration like 30m, 24h, 7d`);
  }
  return ms;
}

const COLUMNS: [string, (r: AuditRecord, e: AuditEntry) => string][] = [
  ['SEQ', (_r, e) => String(e.seq)],
  ['TIME', (r) => r.time],
  ['KEY', (r) => r.keyId ?? '-'],
  ['TEAM', (r) => r.team ?? '-'],
  ['MODEL', (r) => r.model],
  ['OUTCOME', (r) => r.outcome],
  ['STATUS', (r) => (r.decision ? String(r.decision.status) : '-')],
  ['CODE', (r) => r.decision?.code || r.errorCode || '-'],
  ['TOKENS', (r) => `${r.tokens.input}/${r.tokens.output}`],
  ['COST_USD', (r) => r.costUsd.toFixed(6)],
  ['MS', (r) => String(Math.round(r.latency.totalMs))],
  ['POLICY', (r) => r.policyRevision.slice(0, 12) || '-'],
];

const RIGHT_ALIGNED = new Set(['SEQ', 'STATUS', 'TOKENS', 'COST_USD', 'MS']);

/** An aligned text table of entries, one line per record, with a header line. */
export function formatTable(entries: AuditEntry[]): string {
  const rows = entries.map((e) => {
    const r = JSON.parse(e.json) as AuditRecord;
    return COLUMNS.map(([, get]) => get(r, e));
  });
  const header = COLUMNS.map(([name]) => name);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (RIGHT_ALIGNED.has(header[i]) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}
