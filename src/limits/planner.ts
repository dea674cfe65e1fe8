// From policy facts to store counters, and from the store's answer to the facts Rego reads.
//
// Counter ids, and why they survive policy changes:
// - Owners: a key is `key:<id>:<first 16 hex of its hash>`, a team `team:<id>`. A key deleted and
//   later re-created under the same id has a new secret, hence a new hash and fresh counters; it
//   never inherits the old key's spend. (Rotating a key's secret therefore also starts its own
//   counters afresh; its teams' budgets keep counting.)
// - Budgets: `<owner>:budget:<name, or the period when unnamed>:<period>:<period key>`. The amount
//   is not part of the id, so raising or lowering a budget keeps the spend so far; renaming a budget
//   or changing its period starts a new counter. The period key (`2026-11`) makes resets need no job.
// - Rates: `<owner>:rpm`, `<owner>:tph`, `<owner>:inflight`.
import type { BudgetUsage, RateLimitUsage } from '../policy/decision.ts';
import { microToUsd, usdToMicro } from './money.ts';
import { formatInZone, isValidTimeZone, type Period, periodWindow } from './period.ts';
import type { CounterSpec, ReserveResult } from './store.ts';

export interface BudgetPolicy {
  name?: string;
  amountUsd: number;
  period: Period;
  timezone?: string;
}

export interface RateLimitPolicy {
  requestsPerMinute?: number;
  tokensPerHour?: number;
  maxInFlight?: number;
}

export interface OwnerLimits {
  id: string;
  budgets?: BudgetPolicy[];
  rateLimits?: RateLimitPolicy;
}

export interface KeyLimits extends OwnerLimits {
  /** `sha256:<hex>` as in the VirtualKey spec. */
  keyHash: string;
}

export interface PlanInput {
  key: KeyLimits;
  /** The key's team and its ancestors, nearest first; every one's limits apply. */
  teams: OwnerLimits[];
  /** The Gateway's budgetTimezone (UTC when absent). */
  budgetTimezone?: string;
  /** Worst case of this call: what is reserved before forwarding. */
  worstCase: { costMicroUsd: number; tokens: number };
  now: Date;
}

interface BudgetFact {
  type: 'budget';
  id: string;
  scope: 'key' | 'team';
  owner: string;
  period: Period;
  limitUsd: number;
  resetsAtMs?: number;
  /** `resetsAtMs` in the budget's zone, as Rego reads it. */
  resetsAt?: string;
}

interface RateFact {
  type: 'rate';
  id: string;
  scope: 'key' | 'team';
  owner: string;
  kind: RateLimitUsage['kind'];
  limit: number;
}

export interface LimitPlan {
  /** What to reserve, in the order of `facts`. */
  counters: CounterSpec[];
  /** What Rego is told about each counter; what this call asks for is the counter's amount. */
  facts: readonly (BudgetFact | RateFact)[];
  nowMs: number;
  zone: string;
  /**
   * The counters and facts hold for every call of the same key from `validFromMs` until
   * `validUntilMs`, when a budget's period turns (see `withWorstCase`).
   */
  validFromMs: number;
  validUntilMs: number;
}

/** Sliding windows; see WindowCounterSpec for why each admission counts at least a full window. */
export const REQUESTS_WINDOW = { windowMs: 60_000, bucketMs: 1_000 } as const;
export const TOKENS_WINDOW = { windowMs: 3_600_000, bucketMs: 10_000 } as const;
/** Budget counters stay readable this long after their period ends (late settles, reports). */
const BUDGET_RETENTION_MS = 7 * 86_400_000;

const enc = (s: string): string => encodeURIComponent(s);

/** The counter-id owner of a key: its id plus a prefix of its hash (see the module comment). */
export function keyOwnerId(keyId: string, keyHash: string): string {
  const hex = keyHash.replace(/^sha256:/i, '').toLowerCase();
  return `key:${enc(keyId)}:${hex.slice(0, 16)}`;
}

export function teamOwnerId(teamId: string): string {
  return `team:${enc(teamId)}`;
}

/** The identity of each budget, in order: its name, else its period; repeats get `#2`, `#3`… */
function budgetIdentities(budgets: BudgetPolicy[]): string[] {
  const seen = new Map<string, number>();
  return budgets.map((b) => {
    const base = b.name ?? b.period;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}#${n}`;
  });
}

/**
 * Problems the policy loader should report for one owner's budgets: two budgets with the same
 * identity (same name, or unnamed with the same period) and unknown time zones.
 */
export function budgetPolicyProblems(budgets: BudgetPolicy[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const b of budgets) {
    const identity = b.name ?? b.period;
    if (seen.has(identity)) {
      problems.push(
        b.name === undefined
          ? `two unnamed ${b.period} budgets: name them to tell their counters apart`
          : `two budgets are named "${b.name}"`,
      );
    }
    seen.add(identity);
    if (b.timezone !== undefined && !isValidTimeZone(b.timezone)) {
      problems.push(`unknown time zone "${b.timezone}" (use an IANA name such as Europe/Berlin)`);
    }
  }
  return problems;
}

function zoneOr(zone: string | undefined, fallback: string): string {
  return zone !== undefined && isValidTimeZone(zone) ? zone : fallback;
}

/** A non-negative integer limit from policy (fractions round down). */
const count = (n: number): number => (Number.isFinite(n) && n > 0 ? Math.floor(n) : 0);

export function planLimits(input: PlanInput): LimitPlan {
  const nowMs = input.now.getTime();
  const gatewayZone = zoneOr(input.budgetTimezone, 'UTC');
  const counters: CounterSpec[] = [];
  const facts: (BudgetFact | RateFact)[] = [];
  const plan: LimitPlan = {
    counters,
    facts,
    nowMs,
    zone: gatewayZone,
    validFromMs: Number.NEGATIVE_INFINITY,
    validUntilMs: Number.POSITIVE_INFINITY,
  };

  const owners: { scope: 'key' | 'team'; owner: string; counterOwner: string; limits: OwnerLimits }[] = [
    {
      scope: 'key',
      owner: input.key.id,
      counterOwner: keyOwnerId(input.key.id, input.key.keyHash),
      limits: input.key,
    },
    ...input.teams.map((t) => ({
      scope: 'team' as const,
      owner: t.id,
      counterOwner: teamOwnerId(t.id),
      limits: t,
    })),
  ];

  for (const { scope, owner, counterOwner, limits } of owners) {
    const budgets = limits.budgets ?? [];
    const identities = budgetIdentities(budgets);
    budgets.forEach((b, i) => {
      const zone = zoneOr(b.timezone, gatewayZone);
      const window = periodWindow(b.period, zone, nowMs);
      const limitMicro = Math.max(0, usdToMicro(b.amountUsd));
      if (window.startMs !== undefined) plan.validFromMs = Math.max(plan.validFromMs, window.startMs);
      if (window.resetsAtMs !== undefined) plan.validUntilMs = Math.min(plan.validUntilMs, window.resetsAtMs);
      counters.push({
        kind: 'total',
        id: `${counterOwner}:budget:${enc(identities[i])}:${b.period}:${window.key}`,
        unit: 'usd_micro',
        limit: limitMicro,
        amount: 0, // this call's share: withWorstCase below
        ...(window.resetsAtMs === undefined ? {} : { expiresAt: window.resetsAtMs + BUDGET_RETENTION_MS }),
      });
      const fact: BudgetFact = {
        type: 'budget',
        id: `${scope}:${owner}:${identities[i]}`,
        scope,
        owner,
        period: b.period,
        limitUsd: microToUsd(limitMicro),
      };
      if (window.resetsAtMs !== undefined) {
        fact.resetsAtMs = window.resetsAtMs;
        fact.resetsAt = formatInZone(window.resetsAtMs, zone);
      }
      facts.push(fact);
    });

    const rates = limits.rateLimits;
    if (!rates) continue;
    const rate = (kind: RateLimitUsage['kind'], limit: number, spec: CounterSpec) => {
      counters.push(spec);
      facts.push({ type: 'rate', id: `${scope}:${owner}:${kind}`, scope, owner, kind, limit });
    };
    if (rates.requestsPerMinute !== undefined) {
      const limit = count(rates.requestsPerMinute);
      rate('requests_per_minute', limit, {
        kind: 'window',
        id: `${counterOwner}:rpm`,
        unit: 'requests',
        limit,
        amount: 1,
        ...REQUESTS_WINDOW,
      });
    }
    if (rates.tokensPerHour !== undefined) {
      const limit = count(rates.tokensPerHour);
      rate('tokens_per_hour', limit, {
        kind: 'window',
        id: `${counterOwner}:tph`,
        unit: 'tokens',
        limit,
        amount: 0, // this call's share: withWorstCase below
        ...TOKENS_WINDOW,
      });
    }
    if (rates.maxInFlight !== undefined) {
      const limit = count(rates.maxInFlight);
      rate('requests_in_flight', limit, { kind: 'concurrency', id: `${counterOwner}:inflight`, limit });
    }
  }
  return withWorstCase(plan, input.worstCase, nowMs);
}

/**
 * The plan of another call of the same key and teams at `nowMs` (within the plan's validity), which
 * may cost up to `worstCase`: the counter ids, limits and facts are shared, only the amounts differ.
 * Spares the request path the ids' strings and the period arithmetic of `planLimits`.
 */
export function withWorstCase(
  plan: LimitPlan,
  worstCase: { costMicroUsd: number; tokens: number },
  nowMs: number,
): LimitPlan {
  const cost = Math.max(0, Math.ceil(worstCase.costMicroUsd));
  const tokens = Math.max(0, Math.ceil(worstCase.tokens));
  const counters = plan.counters.map((c): CounterSpec => {
    if (c.kind === 'concurrency' || c.unit === 'requests') return c;
    return { ...c, amount: c.unit === 'usd_micro' ? cost : tokens };
  });
  return { ...plan, counters, nowMs };
}

const secondsUntil = (ms: number, nowMs: number): number => Math.max(0, Math.ceil((ms - nowMs) / 1000));

/** The usage facts of `src/policy/decision.ts` for Rego, from a plan and the store's answer to it. */
export function usageFacts(
  plan: LimitPlan,
  result: ReserveResult,
): { budgets: BudgetUsage[]; rateLimits: RateLimitUsage[] } {
  if (result.counters.length !== plan.facts.length) {
    throw new TypeError('the reserve result does not belong to this plan');
  }
  const budgets: BudgetUsage[] = [];
  const rateLimits: RateLimitUsage[] = [];
  plan.facts.forEach((fact, i) => {
    const counter = result.counters[i];
    if (fact.type === 'budget') {
      const usage: BudgetUsage = {
        id: fact.id,
        scope: fact.scope,
        owner: fact.owner,
        period: fact.period,
        limitUsd: fact.limitUsd,
        usedUsd: microToUsd(counter.used),
        requestUsd: microToUsd(counter.amount),
      };
      if (fact.resetsAtMs !== undefined) {
        usage.resetsAt = fact.resetsAt;
        usage.resetsInSeconds = secondsUntil(fact.resetsAtMs, plan.nowMs);
      }
      budgets.push(usage);
    } else {
      const usage: RateLimitUsage = {
        id: fact.id,
        scope: fact.scope,
        owner: fact.owner,
        kind: fact.kind,
        limit: fact.limit,
        used: counter.used,
        request: counter.amount,
      };
      if (counter.freesAt !== undefined) {
        usage.resetsAt = formatInZone(counter.freesAt, plan.zone);
        usage.resetsInSeconds = secondsUntil(counter.freesAt, plan.nowMs);
      }
      rateLimits.push(usage);
    }
  });
  return { budgets, rateLimits };
}
