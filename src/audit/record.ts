// The audit record (what one call leaves behind) and its canonical form, which is what the hash
// chain covers. Changing the canonical form breaks verification of existing logs: extend the record,
// never reorder or rename.
import { createHash } from 'node:crypto';
import type { AuthStatus, GuardrailFinding, Surface } from '../policy/decision.ts';

export type AuditOutcome = 'allowed' | 'denied' | 'blocked' | 'aborted' | 'error';

export interface AuditDecision {
  allow: boolean;
  status: number;
  code: string;
  reasons: string[];
}

export interface AuditRecord {
  requestId: string;
  /** ISO-8601 time the call arrived. */
  time: string;
  /** Virtual key id (the name in the policy), never the key itself; null when unauthenticated. */
  keyId: string | null;
  owner: string | null;
  team: string | null;
  /** Agent session id, e.g. `x-claude-code-session-id` or Codex's session id. */
  session?: string;
  userAgent?: string;
  surface: Surface;
  provider: string;
  model: string;
  stream: boolean;
  tokens: { input: number; output: number; cached: number };
  costUsd: number;
  outcome: AuditOutcome;
  /** Null when the call failed before the policy was asked (e.g. an unreadable body). */
  decision: AuditDecision | null;
  /** Kinds and locations only: the matched text is never part of a finding. */
  findings: GuardrailFinding[];
  tools: {
    /** Declared tools removed before forwarding. */
    stripped: string[];
    /** Tool calls refused by the tool scope. */
    deniedCalls: string[];
  };
  /** Set for MCP calls. */
  mcp?: { server: string; tool: string };
  /** Set when a policy Route served the call: the model asked for, each attempt and why it failed. */
  route?: {
    name: string;
    requestedModel: string;
    attempts: Array<{
      provider: string;
      model: string;
      surface: string;
      translated: boolean;
      status: number;
      reason?: string;
      ms: number;
    }>;
    dropped: string[];
  };
  latency: { totalMs: number; upstreamMs: number; gatewayMs: number };
  /** Git commit SHA of the policy that decided the call. */
  policyRevision: string;
  /** Which gateway replica handled the call. */
  instance: string;
  /** A short machine-readable code when outcome is `error` or `aborted`; never a raw upstream message. */
  errorCode?: string;
  /**
   * Request and response text, present only when the policy turns content logging on. The caller
   * guarantees it is already redacted: the audit log stores it as given.
   */
  content?: { request?: string; response?: string };
  /** The person behind a personal key or an IdP token; absent for static keys. */
  person?: AuditPerson;
  /** The request facts the decision used, so `portcullis policy replay` can decide the call again. */
  facts?: AuditRequestFacts;
  /** How the call's budgets took it: what it held, a soft budget's warnings, overshoot, alerts fired. */
  budget?: AuditBudget;
}

export interface AuditBudget {
  /** What the call held against its budgets before the answer, USD. */
  reservedUsd: number;
  /** How far it took an expected-mode budget past its amount, USD. */
  overshootUsd?: number;
  /** The policy's warnings (a soft budget spent). */
  warnings?: string[];
  /** Budget thresholds this call's spend reached (each alerted once per period). */
  alerts?: { budget: string; thresholdPct: number }[];
}

export interface AuditPerson {
  /** `personal` (a key issued at sign-in) or `jwt` (the IdP's own token). */
  kind: 'personal' | 'jwt';
  /** IdentityProvider name in the policy. */
  idp: string;
  subject: string;
  email?: string;
  groups: string[];
  /** The personal key's public id (never the key). */
  keyId?: string;
}

export interface AuditRequestFacts {
  /** Tool names the request declared. */
  tools: string[];
  sizes: { bodyBytes: number; estimatedInputTokens: number; maxOutputTokens: number };
  authStatus: AuthStatus;
}

/** One stored record with its place in the hash chain. `json` is the canonical record text. */
export interface AuditEntry {
  seq: number;
  prevHash: string;
  hash: string;
  json: string;
}

/** What the first record chains to. */
export const GENESIS_HASH = '0'.repeat(64);

const str = (v: unknown): string => (v == null ? '' : String(v));
const strOrNull = (v: unknown): string | null => (v == null ? null : String(v));
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(str) : []);

function finding(f: GuardrailFinding): GuardrailFinding {
  // Field by field, so that nothing a detector attached at runtime (such as the match) is stored.
  return {
    action: f.action,
    chain: str(f.chain),
    fingerprint: str(f.fingerprint),
    path: str(f.path),
    rule: str(f.rule),
    stage: f.stage,
    step: num(f.step),
    type: str(f.type),
  };
}

/**
 * The record as stored: exactly the documented fields, coerced to their types. Unknown properties
 * are dropped, which keeps stray data (a finding's match, a header bag) out of the log. Never throws.
 *
 * Keys are created in canonical (sorted) order at every level, so `JSON.stringify` of the result
 * is its canonical JSON, several times faster than sorting at serialization time.
 */
export function normalizeRecord(r: AuditRecord): AuditRecord {
  const out: Partial<AuditRecord> = {};
  if (r.budget) {
    // Keys in sorted order, like every other object here (see canonicalJson).
    const budget: AuditBudget = {} as AuditBudget;
    if (Array.isArray(r.budget.alerts) && r.budget.alerts.length > 0) {
      budget.alerts = r.budget.alerts.map((a) => ({
        budget: str(a.budget),
        thresholdPct: num(a.thresholdPct),
      }));
    }
    if (r.budget.overshootUsd != null) budget.overshootUsd = num(r.budget.overshootUsd);
    budget.reservedUsd = num(r.budget.reservedUsd);
    if (Array.isArray(r.budget.warnings) && r.budget.warnings.length > 0)
      budget.warnings = strings(r.budget.warnings);
    out.budget = budget;
  }
  if (r.content) {
    const content: { request?: string; response?: string } = {};
    if (r.content.request != null) content.request = str(r.content.request);
    if (r.content.response != null) content.response = str(r.content.response);
    out.content = content;
  }
  out.costUsd = num(r.costUsd);
  out.decision = r.decision
    ? {
        allow: r.decision.allow === true,
        code: str(r.decision.code),
        reasons: strings(r.decision.reasons),
        status: num(r.decision.status),
      }
    : null;
  if (r.errorCode != null) out.errorCode = str(r.errorCode);
  if (r.facts) {
    // Keys in sorted order, like every other object here (see canonicalJson).
    out.facts = {
      authStatus: r.facts.authStatus,
      sizes: {
        bodyBytes: num(r.facts.sizes?.bodyBytes),
        estimatedInputTokens: num(r.facts.sizes?.estimatedInputTokens),
        maxOutputTokens: num(r.facts.sizes?.maxOutputTokens),
      },
      tools: strings(r.facts.tools),
    };
  }
  out.findings = Array.isArray(r.findings) ? r.findings.map(finding) : [];
  out.instance = str(r.instance);
  out.keyId = strOrNull(r.keyId);
  out.latency = {
    gatewayMs: num(r.latency?.gatewayMs),
    totalMs: num(r.latency?.totalMs),
    upstreamMs: num(r.latency?.upstreamMs),
  };
  if (r.mcp) out.mcp = { server: str(r.mcp.server), tool: str(r.mcp.tool) };
  out.model = str(r.model);
  out.outcome = r.outcome;
  out.owner = strOrNull(r.owner);
  if (r.person) {
    const person: Partial<AuditPerson> = {};
    if (r.person.email != null) person.email = str(r.person.email);
    person.groups = strings(r.person.groups);
    person.idp = str(r.person.idp);
    if (r.person.keyId != null) person.keyId = str(r.person.keyId);
    person.kind = r.person.kind === 'jwt' ? 'jwt' : 'personal';
    person.subject = str(r.person.subject);
    out.person = person as AuditPerson;
  }
  out.policyRevision = str(r.policyRevision);
  out.provider = str(r.provider);
  out.requestId = str(r.requestId);
  if (r.session != null) out.session = str(r.session);
  out.stream = r.stream === true;
  out.surface = r.surface;
  out.team = strOrNull(r.team);
  out.time = normalizeTime(r.time);
  out.tokens = { cached: num(r.tokens?.cached), input: num(r.tokens?.input), output: num(r.tokens?.output) };
  out.tools = { deniedCalls: strings(r.tools?.deniedCalls), stripped: strings(r.tools?.stripped) };
  if (r.userAgent != null) out.userAgent = str(r.userAgent);
  return out as AuditRecord;
}

/**
 * The JSON of `final` (normalized) when it differs from its call's provisional record only by a
 * `budget` (settled after the response ended), without serializing it again: the budget's JSON put
 * in front of the provisional one's, which is where canonical key order places it. Undefined when
 * anything else differs (the call was aborted after its last byte, say) or the provisional record
 * had a budget of its own.
 */
export function restatedJson(
  provisional: { normalized: AuditRecord; json: string },
  final: AuditRecord,
): string | undefined {
  const before = provisional.normalized as unknown as Record<string, unknown>;
  const after = final as unknown as Record<string, unknown>;
  if (before.budget !== undefined || final.content !== undefined) return undefined;
  let keys = 0;
  for (const k in after) {
    if (k === 'budget') continue;
    if (!sameJson(before[k], after[k])) return undefined;
    keys += 1;
  }
  for (const _ in before) keys -= 1;
  if (keys !== 0) return undefined;
  return final.budget === undefined
    ? provisional.json
    : `{"budget":${JSON.stringify(final.budget)},${provisional.json.slice(1)}`;
}

/** Equal as JSON values: what normalizeRecord makes (plain objects, arrays, strings, numbers, booleans, null). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let keys = 0;
  for (const k in x) {
    if (!sameJson(x[k], y[k])) return false;
    keys += 1;
  }
  for (const _ in y) keys -= 1;
  return keys === 0;
}

// Times normalized lately: a call's provisional and final records carry the same string, and calls
// in the same millisecond the same time.
const recentTimes = new Map<string, string>();

/**
 * `ms` in a record's time format (ISO-8601, UTC, milliseconds), known to be normalized already: a
 * lone call's record then does not parse and format its own start time again (~8 µs cold).
 */
export function recordTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  if (recentTimes.size >= 256) recentTimes.clear();
  recentTimes.set(iso, iso);
  return iso;
}

function normalizeTime(t: unknown): string {
  if (typeof t !== 'string') return str(t);
  let normalized = recentTimes.get(t);
  if (normalized === undefined) {
    const ms = Date.parse(t);
    normalized = Number.isNaN(ms) ? t : new Date(ms).toISOString();
    if (recentTimes.size >= 256) recentTimes.clear();
    recentTimes.set(t, normalized);
  }
  return normalized;
}

/**
 * JSON with object keys sorted (by UTF-16 code units) at every level, no whitespace, undefined
 * members omitted: the same value always serializes to the same bytes. The stored text of a record
 * is `JSON.stringify(normalizeRecord(r))`, which equals `canonicalJson` of it.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) {
    if (obj[k] === undefined) continue;
    parts.push(`${JSON.stringify(k)}:${canonicalJson(obj[k])}`);
  }
  return `{${parts.join(',')}}`;
}

/** `sha256(prevHash || json)`: the lowercase hex previous hash, then the canonical JSON, both UTF-8. */
export function chainHash(prevHash: string, json: string): string {
  return createHash('sha256').update(prevHash).update(json).digest('hex');
}

/** The line a sink or `query --json` emits for an entry: `{"seq","prevHash","hash","record"}`. */
export function entryLine(e: AuditEntry): string {
  return `{"seq":${e.seq},"prevHash":"${e.prevHash}","hash":"${e.hash}","record":${e.json}}`;
}
