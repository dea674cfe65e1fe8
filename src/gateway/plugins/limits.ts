// The limits plugin: budgets and rate limits. Reserves the worst case before the decision (the usage
// facts Rego reads) and returns a reservation the pipeline settles to what the call actually used, or
// releases when nothing was forwarded. The store refuses atomically when a counter has no room, so
// no budget is ever exceeded, whatever a custom policy answers: that is a refusal the policy words.
import { randomUUID } from 'node:crypto';
import { Counter, type Registry, register } from 'prom-client';
import type { BudgetAlerts } from '../../alerts/index.ts';
import { CostEstimator } from '../../limits/expected.ts';
import {
  type ActualUsage,
  type CallCost,
  type CounterStore,
  type LimitPlan,
  microToUsd,
  type OwnerLimits,
  planLimits,
  type ReserveResult,
  totalTokens,
  type UsageView,
  usageFacts,
  usageView,
  usdToMicro,
  withWorstCase,
  worstCaseCostMicroUsd,
} from '../../limits/index.ts';
import { tokenBound } from '../../limits/token-bound.ts';
import type { Decision, Surface } from '../../policy/decision.ts';
import type { GatewaySettings, ResolvedKey, Snapshot } from '../../policy/snapshot.ts';
import { anthropicInputPriceFactor } from '../../providers/anthropic.ts';
import type { Call } from '../call.ts';
import { LIMITS_UNAVAILABLE, refusal } from '../errors.ts';
import type { BudgetSettlement, Plugin, Reservation, Reserved } from '../plugin.ts';

/** The slice of a pino logger the plugins use. */
export interface PluginLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LimitsPluginOptions {
  /** The counter store taking new calls now (a policy change may switch it); none once closed. */
  store(settings: GatewaySettings): CounterStore | undefined;
  logger: PluginLogger;
  /** Where `portcullis_limits_store_unavailable_calls_total` lives (prom-client's default when absent). */
  registry?: Registry;
  /** Budget alerts, when the Gateway declares alert channels. */
  alerts?(settings: GatewaySettings): BudgetAlerts | undefined;
}

export const BUDGET_REMAINING_HEADER = 'x-portcullis-budget-remaining-usd';

/** Answered by the gateway itself: nothing upstream, nothing to count. */
const UNCOUNTED: ReadonlySet<Surface> = new Set<Surface>(['openai.models']);
/** Free upstream calls: they count as requests, never as spend or tokens. */
const FREE: ReadonlySet<Surface> = new Set<Surface>(['anthropic.count_tokens', 'gemini.count_tokens']);
/**
 * MCP tool listings and calls: they count against the request limits model calls use (per minute,
 * in flight) and see the budgets (a key whose budget is spent is refused tools too), but have no
 * price and no tokens, so they reserve nothing of either.
 */
const TOOL_SURFACES: ReadonlySet<Surface> = new Set<Surface>(['mcp.tools_list', 'mcp.tools_call']);

function unavailableCounter(registry: Registry): Counter<'fail_mode'> {
  const name = 'portcullis_limits_store_unavailable_calls_total';
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<'fail_mode'>;
  return new Counter({
    name,
    help: 'Calls that met an unavailable counter store: refused (fail_mode=closed) or forwarded unchecked (fail_mode=open).',
    labelNames: ['fail_mode'],
    registers: [registry],
  });
}

function overshootCounter(registry: Registry): Counter {
  const name = 'portcullis_budget_overshoot_usd_total';
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter;
  return new Counter({
    name,
    help: 'USD by which calls took expected-mode budgets past their amount (each call as it saw its budget).',
    registers: [registry],
  });
}

/** The denial for the first counter without room, worded like the example policy's. */
export function strictDenial(facts: ReturnType<typeof usageFacts>): Decision {
  for (const b of facts.budgets) {
    if (usdToMicro(b.usedUsd) + usdToMicro(b.requestUsd) <= usdToMicro(b.limitUsd)) continue;
    const reset = b.resetsAt === undefined ? '' : ` It resets at ${b.resetsAt}.`;
    return refusal(
      402,
      'budget_exceeded',
      `The ${b.period} budget of ${b.scope} ${b.owner} (${b.limitUsd} USD) does not cover this call: ${b.usedUsd} USD used, this call ${b.mode === 'expected' ? 'is expected to cost' : 'may cost up to'} ${b.requestUsd} USD.${reset} See them all with \`portcullis usage\`.`,
      b.resetsInSeconds,
    );
  }
  for (const r of facts.rateLimits) {
    if (r.used + r.request <= r.limit) continue;
    const reset = r.resetsAt === undefined ? '' : ` It resets at ${r.resetsAt}.`;
    return refusal(
      429,
      'rate_limited',
      `Rate limit of ${r.scope} ${r.owner} reached: ${r.limit} ${r.kind.replaceAll('_', ' ')}.${reset}`,
      Math.max(1, r.resetsInSeconds ?? 1),
    );
  }
  // The store said no but every fact fits (a race between replicas): still refuse.
  return refusal(429, 'rate_limited', 'A budget or rate limit has no room for this call right now.', 1);
}

/** Remaining budget and rate headroom after this call's reservation, as response headers. */
export function remainingHeaders(plan: LimitPlan, result: ReserveResult): Record<string, string> {
  const out: Record<string, string> = {};
  let budget = Number.POSITIVE_INFINITY;
  let requests = Number.POSITIVE_INFINITY;
  let requestLimit = 0;
  let tokens = Number.POSITIVE_INFINITY;
  let tokenLimit = 0;
  plan.facts.forEach((fact, i) => {
    const c = result.counters[i];
    const left = Math.max(0, c.limit - c.used - c.amount);
    if (fact.type === 'budget') budget = Math.min(budget, left);
    else if (fact.kind === 'requests_per_minute' && left < requests) {
      requests = left;
      requestLimit = c.limit;
    } else if (fact.kind === 'tokens_per_hour' && left < tokens) {
      tokens = left;
      tokenLimit = c.limit;
    }
  });
  if (budget !== Number.POSITIVE_INFINITY) out[BUDGET_REMAINING_HEADER] = microToUsd(budget).toFixed(6);
  if (requests !== Number.POSITIVE_INFINITY) {
    out['x-ratelimit-limit-requests'] = String(requestLimit);
    out['x-ratelimit-remaining-requests'] = String(requests);
  }
  if (tokens !== Number.POSITIVE_INFINITY) {
    out['x-ratelimit-limit-tokens'] = String(tokenLimit);
    out['x-ratelimit-remaining-tokens'] = String(tokens);
  }
  return out;
}

/**
 * The limits a call of `key` at `now` reserves against before the call's own worst case is known: the
 * key's and each of its teams', in the policy's budget time zone.
 */
export function keyLimitPlan(
  policy: Pick<Snapshot, 'teams' | 'gateway'>,
  key: ResolvedKey,
  now: Date,
): LimitPlan {
  return planLimits({
    key: {
      id: key.id,
      keyHash: key.hash,
      budgets: key.budgets,
      rateLimits: key.rateLimits,
      modelRateLimits: key.modelRateLimits,
    },
    teams: teamLimits(policy.teams, key.teams),
    budgetTimezone: policy.gateway.budgetTimezone,
    worstCase: NOTHING,
    now,
  });
}

function teamLimits(teams: Snapshot['teams'], teamIds: readonly string[]): OwnerLimits[] {
  const out: OwnerLimits[] = [];
  for (const id of teamIds) {
    const team = teams.get(id);
    if (team !== undefined) {
      out.push({
        id,
        budgets: team.budgets,
        rateLimits: team.rateLimits,
        modelRateLimits: team.modelRateLimits,
      });
    }
  }
  return out;
}

/**
 * What a call can cost at most, what it is expected to cost, and where it goes. Input is counted as one
 * token per byte of request body (or, with `inputTokens`, as that real token count): a token is never
 * shorter than a byte of the text it encodes, and the JSON around the text outweighs message framing,
 * so this bounds the input from above where bytes/4 (the policy's estimate) does not. Output is what
 * the call may ask for after the policy's output cap.
 */
function callCost(call: Call, estimator: CostEstimator, inputTokens?: number): CallCost {
  const model = call.input.model;
  const provider = call.route?.provider.id ?? call.input.provider ?? '';
  if (FREE.has(call.surface)) return { costMicroUsd: 0, tokens: 0, model, provider };
  const sizes = call.input.sizes;
  const price = call.route?.price;
  const bounded = {
    estimatedInputTokens: inputTokens ?? sizes.bodyBytes,
    maxOutputTokens: sizes.maxOutputTokens,
    // A prompt-cache write bills an input token above the input price.
    inputPriceFactor: call.api === 'anthropic' ? anthropicInputPriceFactor(call.rawBody, price) : 1,
  };
  const costMicroUsd = price === undefined ? 0 : worstCaseCostMicroUsd(price, bounded);
  const cost: CallCost = {
    costMicroUsd,
    tokens: bounded.estimatedInputTokens + bounded.maxOutputTokens,
    model,
    provider,
  };
  if (price !== undefined && call.key !== null) {
    cost.expectedCostMicroUsd = estimator.expected(
      call.key.id,
      model,
      {
        inputMicroPerToken: price.inputPerMTok,
        outputMicroPerToken: price.outputPerMTok,
        estimatedInputTokens: sizes.estimatedInputTokens,
        maxOutputTokens: sizes.maxOutputTokens,
      },
      costMicroUsd,
    );
  }
  return cost;
}

/** Whether a refused reservation failed on a budget only (not a rate limit): a tighter input bound may fit. */
function refusedOnBudgetOnly(plan: LimitPlan, result: ReserveResult): boolean {
  let budget = false;
  for (let i = 0; i < plan.facts.length; i++) {
    if (result.counters[i].fits) continue;
    if (plan.facts[i].type !== 'budget') return false;
    budget = true;
  }
  return budget;
}

export interface LimitsPlugin extends Plugin {
  /** Synchronous with an in-process store (SQLite); a promise with Redis. */
  reserve(call: Call): Reserved | undefined | Promise<Reserved | undefined>;
  /** Resolves once no reservation made in `store` is left to settle or release. */
  drained(store: CounterStore): Promise<void>;
  /** The key's own view of every budget and rate limit that applies to it (none without a store). */
  usageView(snapshot: Snapshot, key: ResolvedKey, now: Date): Promise<UsageView | undefined>;
}

const NOTHING = { costMicroUsd: 0, tokens: 0 };

export function createLimitsPlugin(opts: LimitsPluginOptions): LimitsPlugin {
  const { logger } = opts;
  const estimator = new CostEstimator();
  const unavailable = unavailableCounter(opts.registry ?? register);
  const overshoot = overshootCounter(opts.registry ?? register);

  /** Reservations not yet settled, per store: a replaced store closes once its count is back to 0. */
  const outstanding = new Map<CounterStore, number>();
  const onDrained = new Map<CounterStore, (() => void)[]>();
  /** Settles to `actual` (releases when null) in the store that made the reservation. */
  const hold = (store: CounterStore, reservationId: string) => {
    outstanding.set(store, (outstanding.get(store) ?? 0) + 1);
    return async (actual: ActualUsage | null): Promise<void> => {
      try {
        if (actual === null) await store.release(reservationId);
        else await store.settle(reservationId, actual);
      } finally {
        const left = (outstanding.get(store) ?? 1) - 1;
        if (left > 0) outstanding.set(store, left);
        else {
          outstanding.delete(store);
          for (const done of onDrained.get(store)?.splice(0) ?? []) done();
        }
      }
    };
  };

  /** Counts and logs a store failure; true when the call must be refused (failMode closed). */
  const refusedForStore = (snapshot: Snapshot, who: object, err: unknown): boolean => {
    const failMode = snapshot.gateway.failMode;
    unavailable.inc({ fail_mode: failMode });
    logger.error(
      { ...who, failMode, err: (err as Error).message },
      failMode === 'open'
        ? 'counter store unavailable: forwarding without limits (failMode open)'
        : 'counter store unavailable: refusing the call (failMode closed)',
    );
    return failMode !== 'open';
  };

  /**
   * Each key's plan, kept until one of its periods turns. A key object belongs to one snapshot, so a
   * policy change starts afresh with the new snapshot's limits and teams.
   */
  const plans = new WeakMap<ResolvedKey, LimitPlan>();
  const basePlan = (call: Call, key: ResolvedKey): LimitPlan => {
    const plan = planOf(call.snapshot, key, call.startedAt);
    if (!TOOL_SURFACES.has(call.surface)) return plan;
    // A tool call has no tokens: tokens-per-hour limits do not apply to it.
    const keep = plan.facts.map((f) => f.type !== 'rate' || f.kind !== 'tokens_per_hour');
    return {
      ...plan,
      counters: plan.counters.filter((_, i) => keep[i]),
      facts: plan.facts.filter((_, i) => keep[i]),
      scopes: plan.scopes.filter((_, i) => keep[i]),
    };
  };
  const planOf = (snapshot: Snapshot, key: ResolvedKey, nowMs: number): LimitPlan => {
    let plan = plans.get(key);
    if (plan === undefined || nowMs < plan.validFromMs || nowMs >= plan.validUntilMs) {
      plan = keyLimitPlan(snapshot, key, new Date(nowMs));
      plans.set(key, plan);
    }
    return plan;
  };

  const storeDown = (call: Call, err: unknown): Reserved | undefined =>
    refusedForStore(call.snapshot, { reqId: call.id, key: call.key?.id }, err)
      ? { refusal: { decision: LIMITS_UNAVAILABLE } }
      : undefined;

  const reserved = (store: CounterStore, plan: LimitPlan, result: ReserveResult): Reserved => {
    const usage = usageFacts(plan, result);
    const out: Reserved = { usage };
    if (result.reservationId !== null) {
      out.reservation = settlement(hold(store, result.reservationId), store, plan, result);
    }
    // No room: the policy words the refusal, and the call is refused even if a custom policy allows.
    if (!result.ok) out.refusal = { decision: strictDenial(usage), policyWords: true };
    else out.headers = remainingHeaders(plan, result);
    return out;
  };

  /**
   * Reserves; when a budget (only) has no room for the byte bound and the model's tokenizer is known,
   * tries once more with the input's real token count — the tail of a budget is where it matters, and
   * tokenizing costs milliseconds, so calls with room never pay it.
   */
  const reserveIn = (
    store: CounterStore,
    call: Call,
    base: LimitPlan,
    plan: LimitPlan,
    result: ReserveResult,
  ): Reserved | Promise<Reserved | undefined> => {
    const provider = call.route?.provider;
    if (result.ok || provider === undefined || call.rawBody === null || !refusedOnBudgetOnly(plan, result)) {
      return reserved(store, plan, result);
    }
    // Tokenizing is worth it only if a plausible count could fit: none encodes under 6 bytes a token
    // on average, so when even bytes/6 does not fit, the refusal stands without the cost.
    const floor = withWorstCase(
      base,
      callCost(call, estimator, Math.floor(call.rawBody.length / 6)),
      call.startedAt,
    );
    const mayFit = floor.counters.every(
      (c, i) => c.kind === 'concurrency' || result.counters[i].used + c.amount <= c.limit,
    );
    if (!mayFit) return reserved(store, plan, result);
    const bound = tokenBound(provider.api, call.input.model, call.rawBody);
    const withTokens = (tokens: number | undefined): Reserved | Promise<Reserved | undefined> => {
      if (tokens === undefined || tokens >= call.input.sizes.bodyBytes) return reserved(store, plan, result);
      const tighter = withWorstCase(base, callCost(call, estimator, tokens), call.startedAt);
      let again: ReserveResult | Promise<ReserveResult>;
      try {
        again = store.reserve({
          requestId: randomUUID(),
          counters: tighter.counters,
          now: new Date(call.startedAt),
        });
      } catch (err) {
        return storeDown(call, err) ?? reserved(store, plan, result);
      }
      if (!(again instanceof Promise)) return reserved(store, tighter, again);
      return again.then(
        (r) => reserved(store, tighter, r),
        (err: unknown) => storeDown(call, err),
      );
    };
    // The tokenizer loads on first use (token-bound.ts); a load that fails leaves the byte bound's answer.
    if (bound instanceof Promise) return bound.then(withTokens, () => reserved(store, plan, result));
    return withTokens(bound);
  };

  /** Settles to the call's usage, or releases when nothing was forwarded; then checks budget alerts. */
  const settlement = (
    finish: (actual: ActualUsage | null) => Promise<void>,
    store: CounterStore,
    plan: LimitPlan,
    result: ReserveResult,
  ): Reservation => ({
    async settle(call) {
      try {
        const usage = call.usage;
        if (usage === null) {
          await finish(null);
          return undefined;
        }
        const tokens = FREE.has(call.surface) ? 0 : totalTokens(usage);
        const costMicroUsd = usdToMicro(usage.costUsd);
        await finish({ costMicroUsd, tokens });
        if (call.key !== null && !FREE.has(call.surface))
          estimator.observe(call.key.id, call.input.model, costMicroUsd);
        return { budget: await budgetSettlement(call, store, plan, result, costMicroUsd) };
      } catch (err) {
        logger.error(
          { reqId: call.id, key: call.key?.id, err: (err as Error).message },
          'settling the reservation failed',
        );
        return undefined;
      }
    },
  });

  const budgetSettlement = async (
    call: Call,
    store: CounterStore,
    plan: LimitPlan,
    result: ReserveResult,
    costMicroUsd: number,
  ): Promise<BudgetSettlement | undefined> => {
    let reservedMicro = 0;
    let overshootMicro = 0;
    let budgets = 0;
    plan.facts.forEach((fact, i) => {
      if (fact.type !== 'budget') return;
      budgets++;
      const c = result.counters[i];
      reservedMicro = Math.max(reservedMicro, c.amount);
      // What this call took an expected-mode budget past its amount, as this call saw it.
      if (fact.mode === 'expected')
        overshootMicro = Math.max(overshootMicro, c.used + costMicroUsd - fact.limitMicro);
    });
    // A call that held nothing against a budget (an MCP tool call, count_tokens) has nothing to report.
    if (budgets === 0 || (reservedMicro === 0 && costMicroUsd === 0)) return undefined;
    const out: BudgetSettlement = { reservedUsd: microToUsd(reservedMicro) };
    if (overshootMicro > 0) {
      out.overshootUsd = microToUsd(overshootMicro);
      overshoot.inc(microToUsd(overshootMicro));
    }
    const alerts = opts.alerts?.(call.snapshot.gateway);
    if (alerts !== undefined) {
      const fired = await alerts.afterSettle(store, {
        plan,
        reserved: result,
        costMicroUsd,
        policyRevision: call.snapshot.revision,
        now: new Date(),
      });
      if (fired.length > 0)
        out.alerts = fired.map((a) => ({ budget: a.budget, thresholdPct: a.thresholdPct }));
    }
    return out;
  };

  return {
    name: 'limits',

    reserve(call) {
      const key = call.key;
      if (key === null || UNCOUNTED.has(call.surface)) return undefined;
      const base = basePlan(call, key);
      const plan = withWorstCase(base, callCost(call, estimator), call.startedAt);
      if (plan.counters.length === 0) return undefined;
      const store = opts.store(call.snapshot.gateway);
      if (store === undefined) return undefined;
      const now = new Date(call.startedAt);
      let result: ReserveResult | Promise<ReserveResult>;
      try {
        // Not call.id: a client may choose its x-request-id, and reservation ids must be unique.
        result = store.reserve({ requestId: randomUUID(), counters: plan.counters, now });
      } catch (err) {
        return storeDown(call, err);
      }
      if (!(result instanceof Promise)) return reserveIn(store, call, base, plan, result);
      return result.then(
        (r) => reserveIn(store, call, base, plan, r),
        (err: unknown) => storeDown(call, err),
      );
    },

    rewrite(call) {
      const cap = call.outputCap;
      if (cap === undefined || call.body === null || call.format === null) return undefined;
      const body = call.format.capOutputTokens(call.surface, call.body, cap);
      return body === undefined ? undefined : { body };
    },

    async usageView(snapshot, key, now) {
      const store = opts.store(snapshot.gateway);
      if (store === undefined) return undefined;
      return usageView(store, planOf(snapshot, key, now.getTime()), now);
    },

    drained(store) {
      if (!outstanding.has(store)) return Promise.resolve();
      return new Promise((resolve) => {
        const list = onDrained.get(store);
        if (list === undefined) onDrained.set(store, [resolve]);
        else list.push(resolve);
      });
    },
  };
}
