// Replays recorded calls under two policy revisions: each audit record becomes the DecisionInput the
// gateway would build under each revision's snapshot (its keys, providers and models), and every
// call whose decision differs is reported, grouped by key and reason.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditRecord } from '../audit/record.ts';
import { AuditStore } from '../audit/store.ts';
import { type AuthResult, authenticateKeyId } from '../gateway/authenticate.ts';
import { decisionInput, modelFacts } from '../gateway/decision-input.ts';
import type { AuthStatus, Decision, DecisionInput } from '../policy/decision.ts';
import type { ProviderApi, Snapshot } from '../policy/snapshot.ts';
import { priceFor } from '../providers/pricing.ts';
import { escapeMd } from './diff-report.ts';

/** The request facts a decision used, as recorded (optional: older records lack them). */
export interface RecordedFacts {
  tools: string[];
  sizes: { bodyBytes: number; estimatedInputTokens: number; maxOutputTokens: number };
  authStatus: AuthStatus;
}

export type ReplayRecord = AuditRecord & { facts?: RecordedFacts };

export interface ReplayOutcome {
  allow: boolean;
  status: number;
  code: string;
  reasons: string[];
  stripTools: string[];
}

export interface ReplayGroup {
  keyId: string | null;
  from: ReplayOutcome;
  to: ReplayOutcome;
  count: number;
  /** Calls per model. */
  models: Record<string, number>;
  /** Up to five request ids, oldest first, to look up with `portcullis audit query --request`. */
  examples: string[];
  firstTime: string;
  lastTime: string;
  /** How many of these calls were recorded without request facts (declared tools unknown). */
  withoutFacts: number;
}

export interface ReplayResult {
  base: string;
  head: string;
  /** Records replayed. */
  replayed: number;
  changed: number;
  newlyDenied: number;
  newlyAllowed: number;
  groups: ReplayGroup[];
  notes: string[];
}

export const REPLAY_NOTES = [
  'Budget and rate-limit usage is not replayed: both revisions see zero usage, so budget and rate-limit denials do not show here.',
  'Guardrail findings are replayed as recorded; a changed guardrail chain is not re-run over the (unstored) content.',
];

const API_OF: Record<string, ProviderApi> = { openai: 'openai', anthropic: 'anthropic', gemini: 'gemini' };

/**
 * The DecisionInput for a recorded call under `snapshot`: the key is authenticated by id with the
 * gateway's own rule and the provider resolved as the gateway does, from that revision.
 */
export function decisionInputFor(record: ReplayRecord, snapshot: Snapshot): DecisionInput {
  const nowMs = Date.parse(record.time);
  const facts = record.facts;
  const auth: AuthResult =
    record.keyId === null
      ? { status: facts?.authStatus && facts.authStatus !== 'ok' ? facts.authStatus : 'missing', key: null }
      : authenticateKeyId(snapshot, record.keyId, nowMs);
  const api = API_OF[record.surface.split('.')[0]];
  let provider = snapshot.providers.get(record.provider);
  let price = provider === undefined ? undefined : priceFor(provider, record.model);
  if (api !== undefined) {
    const served = modelFacts(snapshot, api, record.model);
    if (served.provider !== undefined) ({ provider, price } = served);
  }
  return decisionInput({
    surface: record.surface,
    provider: provider?.id ?? record.provider,
    model: record.model,
    pricedModel: price?.id,
    stream: record.stream,
    tools: facts?.tools ?? [],
    sizes: facts?.sizes ?? {
      bodyBytes: 0,
      estimatedInputTokens: record.tokens.input,
      maxOutputTokens: price?.maxOutputTokens ?? 0,
    },
    auth: { status: auth.status, enforced: snapshot.gateway.enforceAuthOnInference },
    key: auth.key,
    session: record.session,
    userAgent: record.userAgent,
    mcp: record.mcp,
    findings: record.findings,
    nowMs,
  });
}

function outcome(d: Decision): ReplayOutcome {
  return {
    allow: d.allow,
    status: d.status,
    code: d.code,
    reasons: d.reasons,
    stripTools: [...(d.stripTools ?? [])].sort(),
  };
}

const same = (a: ReplayOutcome, b: ReplayOutcome) =>
  a.allow === b.allow &&
  a.status === b.status &&
  a.code === b.code &&
  a.stripTools.join('\0') === b.stripTools.join('\0');

export function replayRecords(records: Iterable<ReplayRecord>, base: Snapshot, head: Snapshot): ReplayResult {
  const groups = new Map<string, ReplayGroup>();
  let replayed = 0;
  let newlyDenied = 0;
  let newlyAllowed = 0;
  for (const r of records) {
    replayed++;
    const from = outcome(base.evaluate(decisionInputFor(r, base)));
    const to = outcome(head.evaluate(decisionInputFor(r, head)));
    if (same(from, to)) continue;
    if (from.allow && !to.allow) newlyDenied++;
    if (!from.allow && to.allow) newlyAllowed++;
    const id = JSON.stringify([
      r.keyId,
      from.allow,
      from.status,
      from.code,
      from.stripTools,
      to.allow,
      to.status,
      to.code,
      to.stripTools,
    ]);
    let g = groups.get(id);
    if (!g) {
      g = {
        keyId: r.keyId,
        from,
        to,
        count: 0,
        models: {},
        examples: [],
        firstTime: r.time,
        lastTime: r.time,
        withoutFacts: 0,
      };
      groups.set(id, g);
    }
    g.count++;
    g.models[r.model] = (g.models[r.model] ?? 0) + 1;
    if (g.examples.length < 5) g.examples.push(r.requestId);
    if (r.time < g.firstTime) g.firstTime = r.time;
    if (r.time > g.lastTime) g.lastTime = r.time;
    if (!r.facts) g.withoutFacts++;
  }
  const sorted = [...groups.values()].sort(
    (a, b) => Number(b.from.allow && !b.to.allow) - Number(a.from.allow && !a.to.allow) || b.count - a.count,
  );
  return {
    base: base.revision,
    head: head.revision,
    replayed,
    changed: sorted.reduce((n, g) => n + g.count, 0),
    newlyDenied,
    newlyAllowed,
    groups: sorted,
    notes: REPLAY_NOTES,
  };
}

/** `audit.db` itself, or a data directory holding it. */
export function auditDbPath(path: string): string {
  return existsSync(path) && statSync(path).isDirectory() ? join(path, 'audit.db') : path;
}

/** Records at or after `sinceMs`, oldest first, from the audit store (opened read-only). */
export function readAuditRecords(path: string, sinceMs?: number): ReplayRecord[] {
  const db = auditDbPath(path);
  if (!existsSync(db)) throw new Error(`no audit log at ${db}`);
  const store = new AuditStore(db, { readOnly: true });
  try {
    return store.query({ sinceMs, order: 'asc' }).map((e) => JSON.parse(e.json) as ReplayRecord);
  } finally {
    store.close();
  }
}

const short = (rev: string) => (/^[0-9a-f]{40}$/.test(rev) ? rev.slice(0, 12) : rev);

function describe(o: ReplayOutcome): string {
  const verdict = o.allow ? `allowed (${o.status})` : `denied ${o.status} ${o.code}`;
  return o.stripTools.length ? `${verdict}, strips ${o.stripTools.join(', ')}` : verdict;
}

export function replayMarkdown(r: ReplayResult, sinceLabel?: string): string {
  const lines = [`### Replay of recorded calls \`${short(r.base)}\` → \`${short(r.head)}\``, ''];
  const window = sinceLabel ? ` since ${sinceLabel}` : '';
  if (r.changed === 0) {
    lines.push(
      `✅ ${r.replayed} recorded call${r.replayed === 1 ? '' : 's'}${window} replayed; no decision changes.`,
    );
  } else {
    lines.push(
      `**${r.changed} of ${r.replayed} recorded call${r.replayed === 1 ? '' : 's'}${window} would be decided differently: ${r.newlyDenied} newly denied, ${r.newlyAllowed} newly allowed.**`,
      '',
      '| Key | Before | After | Calls | Models |',
      '| --- | --- | --- | ---: | --- |',
    );
    for (const g of r.groups) {
      const models = Object.entries(g.models)
        .map(([m, n]) => `${m} (${n})`)
        .join(', ');
      lines.push(
        `| ${escapeMd(g.keyId ?? '(no key)')} | ${describe(g.from)} | ${describe(g.to)} | ${g.count} | ${escapeMd(models)} |`,
      );
    }
    lines.push('');
    for (const g of r.groups) {
      const reason = (g.to.allow ? g.from.reasons[0] : g.to.reasons[0]) ?? '';
      lines.push(
        `- **${escapeMd(g.keyId ?? '(no key)')}** ${describe(g.from)} → ${describe(g.to)}: ${escapeMd(reason)} (${g.firstTime} … ${g.lastTime}; e.g. ${g.examples.join(', ')})${g.withoutFacts ? `; ${g.withoutFacts} recorded without request facts, declared tools unknown` : ''}`,
      );
    }
  }
  lines.push('', ...r.notes.map((n) => `> ${n}`));
  return `${lines.join('\n')}\n`;
}
