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
import { globToRegExp } from '../policy/models.ts';
import { microToUsd, usdToMicro } from './money.ts';
import { formatInZone, isValidTimeZone, type Period, periodWindow } from './period.ts';
import type { CounterSpec, ReserveResult } from './store.ts';

/**
 * How a budget admits calls. `strict` reserves each call's worst case, so admitted calls can never
 * take spend past the limit. `expected` reserves what the call is expected to cost, so the tail of the
 * budget stays usable; spend may pass the limit by at most what the calls in flight cost beyond their
 * expectation (at most one call's actual cost per concurrent slot).
 */
export type BudgetMode = 'strict' | 'expected';

/** `hard` refuses a call the budget cannot cover; `soft` lets it through with a warning and an alert. */
export type BudgetEnforcement = 'hard' | 'soft';

/** Which calls a budget or rate limit counts: every call when both lists are absent. */
export interface CallScope {
  /** Model globs (`claude-opus-*`); the limit counts only calls on a matching model. */
  models?: string[];
  /** Provider ids; the limit counts only calls routed to one of them. */
  providers?: string[];
}

export interface BudgetPolicy extends CallScope {
  name?: string;
  amountUsd: number;
  period: Period;
  timezone?: string;
  mode?: BudgetMode;
  enforcement?: BudgetEnforcement;
  /** Percentages of the amount at which an alert is sent, once per period each (e.g. 50, 80, 100). */
  alertAt?: number[];
}

export interface RateLimitPolicy {
  requestsPerMinute?: number;
  tokensPerHour?: number;
  maxInFlight?: number;
}

/** Rate limits that count only the calls on some models or providers. */
export interface ScopedRateLimitPolicy extends RateLimitPolicy, CallScope {
  /** Identifies the limit's counters; renaming one starts new counters. */
  name: string;
}

export interface OwnerLimits {
  id: string;
  budgets?: BudgetPolicy[];
  rateLimits?: RateLimitPolicy;
  modelRateLimits?: ScopedRateLimitPolicy[];
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
  worstCase: CallCost;
  now: Date;
}

interface BudgetFact {
  type: 'budget';
  id: string;
  scope: 'key' | 'team';
  owner: string;
  period: Period;
  limitUsd: number;
  /** The limit in micro-USD, for alert thresholds and remaining-budget headers. */
  limitMicro: number;
  mode: BudgetMode;
  enforcement: BudgetEnforcement;
  alertAt: readonly number[];
  models?: readonly string[];
  providers?: readonly string[];
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
  models?: readonly string[];
  providers?: readonly string[];
}

/** A compiled `CallScope`: null counts every call. */
export type ScopeMatcher = ((model: string, provider: string) => boolean) | null;

/** The call a plan is applied to: what it may cost at most, what it is expected to cost, and where it goes. */
export interface CallCost {
  costMicroUsd: number;
  tokens: number;
  /** What the call is expected to cost; budgets in `expected` mode reserve this. Defaults to the worst case. */
  expectedCostMicroUsd?: number;
  /** Limits scoped to models or providers apply only when these match; absent = unscoped limits only. */
  model?: string;
  provider?: string;
}

export interface LimitPlan {
  /** What to reserve, in the order of `facts`. */
  counters: CounterSpec[];
  /** What Rego is told about each counter; what this call asks for is the counter's amount. */
  facts: readonly (BudgetFact | RateFact)[];
  /** Per counter: which calls it counts (null: all). */
  scopes: readonly ScopeMatcher[];
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

/** A store limit no call reaches: soft budgets count spend but never refuse in the store. */
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

const NO_ALERTS: readonly number[] = [];

/** Thresholds as given, in (0, 1000] percent, ascending and without repeats. */
function alertThresholds(alertAt: number[] | undefined): readonly number[] {
  if (alertAt === undefined || alertAt.length === 0) return NO_ALERTS;
  return [...new Set(alertAt.filter((p) => Number.isFinite(p) && p > 0 && p <= 1000))].sort((a, b) => a - b);
}

export function compileScope(scope: CallScope): ScopeMatcher {
  const models =
    scope.models !== undefined && scope.models.length > 0 ? scope.models.map(globToRegExp) : null;
  const providers =
    scope.providers !== undefined && scope.providers.length > 0 ? new Set(scope.providers) : null;
  if (models === null && providers === null) return null;
  return (model, provider) =>
    (models === null || models.some((re) => re.test(model))) &&
    (providers === null || providers.has(provider));
}

function scopeFacts(scope: CallScope): { models?: readonly string[]; providers?: readonly string[] } {
  const out: { models?: readonly string[]; providers?: readonly string[] } = {};
  if (scope.models !== undefined && scope.models.length > 0) out.models = scope.models;
  if (scope.providers !== undefined && scope.providers.length > 0) out.providers = scope.providers;
  return out;
}

/**
 * Every budget and rate limit of the key and its teams. Limits scoped to models or providers are all in
 * the plan unless `worstCase` names the call's model; `withWorstCase` applies one call to it.
 */
export function planLimits(input: PlanInput): LimitPlan {
  const nowMs = input.now.getTime();
  const gatewayZone = zoneOr(input.budgetTimezone, 'UTC');
  const counters: CounterSpec[] = [];
  const facts: (BudgetFact | RateFact)[] = [];
  const scopes: ScopeMatcher[] = [];
  const plan: LimitPlan = {
    counters,
    facts,
    scopes,
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
      const enforcement = b.enforcement ?? 'hard';
      if (window.startMs !== undefined) plan.validFromMs = Math.max(plan.validFromMs, window.startMs);
      if (window.resetsAtMs !== undefined) plan.validUntilMs = Math.min(plan.validUntilMs, window.resetsAtMs);
      counters.push({
        kind: 'total',
        id: `${counterOwner}:budget:${enc(identities[i])}:${b.period}:${window.key}`,
        unit: 'usd_micro',
        limit: enforcement === 'soft' ? UNBOUNDED : limitMicro,
        amount: 0, // this call's share: withWorstCase below
        ...(window.resetsAtMs === undefined ? {} : { expiresAt: window.resetsAtMs + BUDGET_RETENTION_MS }),
      });
      scopes.push(compileScope(b));
      const fact: BudgetFact = {
        type: 'budget',
        id: `${scope}:${owner}:${identities[i]}`,
        scope,
        owner,
        period: b.period,
        limitUsd: microToUsd(limitMicro),
        limitMicro,
        mode: b.mode ?? 'strict',
        enforcement,
        alertAt: alertThresholds(b.alertAt),
        ...scopeFacts(b),
      };
      if (window.resetsAtMs !== undefined) {
        fact.resetsAtMs = window.resetsAtMs;
        fact.resetsAt = formatInZone(window.resetsAtMs, zone);
      }
      facts.push(fact);
    });

    const addRates = (rates: RateLimitPolicy, suffix: string, callScope: CallScope) => {
      const matcher = compileScope(callScope);
      const extra = scopeFacts(callScope);
      const rate = (kind: RateLimitUsage['kind'], limit: number, spec: CounterSpec) => {
        counters.push(spec);
        scopes.push(matcher);
        facts.push({
          type: 'rate',
          id: `${scope}:${owner}${suffix}:${kind}`,
          scope,
          owner,
          kind,
          limit,
          ...extra,
        });
      };
      const idOf = (what: string) =>
        `${counterOwner}${suffix === '' ? '' : `:${enc(suffix.slice(1))}`}:${what}`;
      if (rates.requestsPerMinute !== undefined) {
        const limit = count(rates.requestsPerMinute);
        rate('requests_per_minute', limit, {
          kind: 'window',
          id: idOf('rpm'),
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
          id: idOf('tph'),
          unit: 'tokens',
          limit,
          amount: 0, // this call's share: withWorstCase below
          ...TOKENS_WINDOW,
        });
      }
      if (rates.maxInFlight !== undefined) {
        const limit = count(rates.maxInFlight);
        rate('requests_in_flight', limit, { kind: 'concurrency', id: idOf('inflight'), limit });
      }
    };
    if (limits.rateLimits) addRates(limits.rateLimits, '', {});
    for (const scoped of limits.modelRateLimits ?? []) addRates(scoped, `/${scoped.name}`, scoped);
  }
  return applyCost(plan, input.worstCase, nowMs, input.worstCase.model !== undefined);
}

/**
 * The plan of another call of the same key and teams at `nowMs` (within the plan's validity), which
 * may cost up to `call.costMicroUsd`: the counter ids, limits and facts are shared, only the amounts
 * differ — and limits scoped to other models or providers than the call's are left out. Spares the
 * request path the ids' strings and the period arithmetic of `planLimits`.
 */
export function withWorstCase(plan: LimitPlan, call: CallCost, nowMs: number): LimitPlan {
  return applyCost(plan, call, nowMs, true);
}

/** The plan with this call's amounts; `filter` leaves out the limits scoped to other models or providers. */
function applyCost(plan: LimitPlan, call: CallCost, nowMs: number, filter: boolean): LimitPlan {
  const cost = Math.max(0, Math.ceil(call.costMicroUsd));
  const expected = Math.min(cost, Math.max(0, Math.ceil(call.expectedCostMicroUsd ?? cost)));
  const tokens = Math.max(0, Math.ceil(call.tokens));
  const model = call.model ?? '';
  const provider = call.provider ?? '';
  let scoped = false;
  if (filter) for (const s of plan.scopes) if (s !== null) scoped = true;
  const keep = (i: number): boolean => {
    const s = plan.scopes[i];
    return s === null || (call.model !== undefined && s(model, provider));
  };
  const counters: CounterSpec[] = [];
  const facts: (BudgetFact | RateFact)[] = scoped ? [] : (plan.facts as (BudgetFact | RateFact)[]);
  const scopes: ScopeMatcher[] = scoped ? [] : (plan.scopes as ScopeMatcher[]);
  plan.counters.forEach((c, i) => {
    const fact = plan.facts[i];
    if (scoped) {
      if (!keep(i)) return;
      facts.push(fact);
      scopes.push(plan.scopes[i]);
    }
    if (c.kind === 'concurrency' || c.unit === 'requests') counters.push(c);
    else if (c.unit === 'usd_micro') {
      const amount = fact.type === 'budget' && fact.mode === 'expected' ? expected : cost;
      counters.push({ ...c, amount });
    } else counters.push({ ...c, amount: tokens });
  });
  return { ...plan, counters, facts, scopes, nowMs };
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
      if (fact.mode !== 'strict') usage.mode = fact.mode;
      if (fact.enforcement !== 'hard') usage.enforcement = fact.enforcement;
      if (fact.models !== undefined) usage.models = fact.models;
      if (fact.providers !== undefined) usage.providers = fact.providers;
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
      if (fact.models !== undefined) usage.models = fact.models;
      if (fact.providers !== undefined) usage.providers = fact.providers;
      if (counter.freesAt !== undefined) {
        usage.resetsAt = formatInZone(counter.freesAt, plan.zone);
        usage.resetsInSeconds = secondsUntil(counter.freesAt, plan.nowMs);
      }
      rateLimits.push(usage);
    }
  });
  return { budgets, rateLimits };
}
