// The limits plugin: budgets and rate limits. Reserves the worst case before the decision (the usage
// facts Rego reads) and returns a reservation the pipeline settles to what the call actually used, or
// releases when nothing was forwarded. The store refuses atomically when a counter has no room, so
// no budget is ever exceeded, whatever a custom policy answers: that is a refusal the policy words.
import { randomUUID } from 'node:crypto';
import { Counter, type Registry, register } from 'prom-client';
import {
  type ActualUsage,
  type CounterStore,
  type LimitPlan,
  microToUsd,
  type OwnerLimits,
  planLimits,
  type ReserveResult,
  totalTokens,
  usageFacts,
  usdToMicro,
  withWorstCase,
  worstCaseCostMicroUsd,
} from '../../limits/index.ts';
import type { Decision, Surface } from '../../policy/decision.ts';
import type { GatewaySettings, ResolvedKey, Snapshot } from '../../policy/snapshot.ts';
import { anthropicInputPriceFactor } from '../../providers/anthropic.ts';
import type { Call } from '../call.ts';
import { LIMITS_UNAVAILABLE, refusal } from '../errors.ts';
import type { Plugin, Reservation, Reserved } from '../plugin.ts';

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

/** The denial for the first counter without room, worded like the example policy's. */
export function strictDenial(facts: ReturnType<typeof usageFacts>): Decision {
  for (const b of facts.budgets) {
    if (usdToMicro(b.usedUsd) + usdToMicro(b.requestUsd) <= usdToMicro(b.limitUsd)) continue;
    const reset = b.resetsAt === undefined ? '' : ` It resets at ${b.resetsAt}.`;
    return refusal(
      402,
      'budget_exceeded',
      `The ${b.period} budget of ${b.scope} ${b.owner} (${b.limitUsd} USD) does not cover this call: ${b.usedUsd} USD used, this call may cost up to ${b.requestUsd} USD.${reset}`,
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

function teamLimits(snapshot: Snapshot, teamIds: readonly string[]): OwnerLimits[] {
  const out: OwnerLimits[] = [];
  for (const id of teamIds) {
    const team = snapshot.teams.get(id);
    if (team !== undefined) out.push({ id, budgets: team.budgets, rateLimits: team.rateLimits });
  }
  return out;
}

/**
 * What a call can cost at most. Input is counted as one token per byte of request body: a token is
 * never shorter than a byte of the text it encodes, and the JSON around the text outweighs message
 * framing, so this bounds the input from above where bytes/4 (the policy's estimate) does not.
 */
function worstCase(ctx: Call): { costMicroUsd: number; tokens: number } {
  if (FREE.has(ctx.surface)) return { costMicroUsd: 0, tokens: 0 };
  const sizes = ctx.input.sizes;
  const price = ctx.route?.price;
  const bounded = {
    estimatedInputTokens: sizes.bodyBytes,
    maxOutputTokens: sizes.maxOutputTokens,
    // A prompt-cache write bills an input token above the input price.
    inputPriceFactor: ctx.api === 'anthropic' ? anthropicInputPriceFactor(ctx.rawBody) : 1,
  };
  return {
    costMicroUsd: price === undefined ? 0 : worstCaseCostMicroUsd(price, bounded),
    tokens: bounded.estimatedInputTokens + bounded.maxOutputTokens,
  };
}

export interface LimitsPlugin extends Plugin {
  /** Synchronous with an in-process store (SQLite); a promise with Redis. */
  reserve(call: Call): Reserved | undefined | Promise<Reserved | undefined>;
  /** Resolves once no reservation made in `store` is left to settle or release. */
  drained(store: CounterStore): Promise<void>;
}

const NOTHING = { costMicroUsd: 0, tokens: 0 };

export function createLimitsPlugin(opts: LimitsPluginOptions): LimitsPlugin {
  const { logger } = opts;
  const unavailable = unavailableCounter(opts.registry ?? register);

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
  const planFor = (call: Call, key: ResolvedKey): LimitPlan => {
    const nowMs = call.startedAt;
    let plan = plans.get(key);
    if (plan === undefined || nowMs < plan.validFromMs || nowMs >= plan.validUntilMs) {
      plan = planLimits({
        key: { id: key.id, keyHash: key.hash, budgets: key.budgets, rateLimits: key.rateLimits },
        teams: teamLimits(call.snapshot, key.teams),
        budgetTimezone: call.snapshot.gateway.budgetTimezone,
        worstCase: NOTHING,
        now: new Date(nowMs),
      });
      plans.set(key, plan);
    }
    if (!TOOL_SURFACES.has(call.surface)) return withWorstCase(plan, worstCase(call), nowMs);
    const keep = plan.facts.map((f) => f.type !== 'rate' || f.kind !== 'tokens_per_hour');
    return withWorstCase(
      {
        ...plan,
        counters: plan.counters.filter((_, i) => keep[i]),
        facts: plan.facts.filter((_, i) => keep[i]),
      },
      NOTHING,
      nowMs,
    );
  };

  const storeDown = (call: Call, err: unknown): Reserved | undefined =>
    refusedForStore(call.snapshot, { reqId: call.id, key: call.key?.id }, err)
      ? { refusal: { decision: LIMITS_UNAVAILABLE } }
      : undefined;

  const reserved = (store: CounterStore, plan: LimitPlan, result: ReserveResult): Reserved => {
    const usage = usageFacts(plan, result);
    const out: Reserved = { usage };
    if (result.reservationId !== null) out.reservation = settlement(hold(store, result.reservationId));
    // No room: the policy words the refusal, and the call is refused even if a custom policy allows.
    if (!result.ok) out.refusal = { decision: strictDenial(usage), policyWords: true };
    else out.headers = remainingHeaders(plan, result);
    return out;
  };

  /** Settles to the call's usage, or releases when nothing was forwarded. */
  const settlement = (finish: (actual: ActualUsage | null) => Promise<void>): Reservation => ({
    async settle(call) {
      try {
        const usage = call.usage;
        if (usage === null) {
          await finish(null);
          return;
        }
        const tokens = FREE.has(call.surface) ? 0 : totalTokens(usage);
        await finish({ costMicroUsd: usdToMicro(usage.costUsd), tokens });
      } catch (err) {
        logger.error(
          { reqId: call.id, key: call.key?.id, err: (err as Error).message },
          'settling the reservation failed',
        );
      }
    },
  });

  return {
    name: 'limits',

    reserve(call) {
      const key = call.key;
      if (key === null || UNCOUNTED.has(call.surface)) return undefined;
      const plan = planFor(call, key);
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
      if (!(result instanceof Promise)) return reserved(store, plan, result);
      return result.then(
        (r) => reserved(store, plan, r),
        (err: unknown) => storeDown(call, err),
      );
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
