// A caller's own view of the budgets and rate limits that apply to them: spent, remaining and when
// each resets. Read with `peek`, so looking never holds budget or a slot.
import { microToUsd } from './money.ts';
import { formatInZone } from './period.ts';
import type { LimitPlan } from './planner.ts';
import type { CounterStore } from './store.ts';

export interface BudgetView {
  id: string;
  scope: 'key' | 'team';
  owner: string;
  period: string;
  limitUsd: number;
  spentUsd: number;
  remainingUsd: number;
  /** Spent as a share of the limit, in percent (may pass 100 for soft or expected-mode budgets). */
  percent: number;
  mode: 'strict' | 'expected';
  enforcement: 'hard' | 'soft';
  models?: readonly string[];
  providers?: readonly string[];
  resetsAt?: string;
}

export interface RateLimitView {
  id: string;
  scope: 'key' | 'team';
  owner: string;
  kind: string;
  limit: number;
  used: number;
  remaining: number;
  models?: readonly string[];
  providers?: readonly string[];
  resetsAt?: string;
}

export interface UsageView {
  budgets: BudgetView[];
  rateLimits: RateLimitView[];
}

const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** Every limit of `plan` (scoped ones included) with what it holds now. */
export async function usageView(store: CounterStore, plan: LimitPlan, now: Date): Promise<UsageView> {
  const used = await store.peek({ counters: plan.counters, now });
  const view: UsageView = { budgets: [], rateLimits: [] };
  plan.facts.forEach((fact, i) => {
    const u = used[i];
    const scoped: { models?: readonly string[]; providers?: readonly string[] } = {};
    if (fact.models !== undefined) scoped.models = fact.models;
    if (fact.providers !== undefined) scoped.providers = fact.providers;
    if (fact.type === 'budget') {
      const b: BudgetView = {
        id: fact.id,
        scope: fact.scope,
        owner: fact.owner,
        period: fact.period,
        limitUsd: fact.limitUsd,
        spentUsd: microToUsd(u.used),
        remainingUsd: microToUsd(Math.max(0, fact.limitMicro - u.used)),
        percent: fact.limitMicro > 0 ? round((u.used / fact.limitMicro) * 100, 1) : 0,
        mode: fact.mode,
        enforcement: fact.enforcement,
        ...scoped,
      };
      if (fact.resetsAt !== undefined) b.resetsAt = fact.resetsAt;
      view.budgets.push(b);
    } else {
      const r: RateLimitView = {
        id: fact.id,
        scope: fact.scope,
        owner: fact.owner,
        kind: fact.kind,
        limit: fact.limit,
        used: u.used,
        remaining: Math.max(0, fact.limit - u.used),
        ...scoped,
      };
      if (u.freesAt !== undefined) r.resetsAt = formatInZone(u.freesAt, plan.zone);
      view.rateLimits.push(r);
    }
  });
  return view;
}

/** ` [models…]` or ` [providers…]` for a scoped limit, '' for one that counts every call. */
function scopeLabel(l: { models?: readonly string[]; providers?: readonly string[] }): string {
  if (l.models) return ` [${l.models.join(', ')}]`;
  return l.providers ? ` [${l.providers.join(', ')}]` : '';
}

/** The view as a person reads it in a terminal. */
export function formatUsageView(view: UsageView): string {
  const lines: string[] = [];
  if (view.budgets.length === 0 && view.rateLimits.length === 0)
    return 'No budgets or rate limits apply to this key.\n';
  if (view.budgets.length > 0) {
    lines.push('Budgets');
    for (const b of view.budgets) {
      const scope = scopeLabel(b);
      const flags = [b.enforcement === 'soft' ? 'soft' : '', b.mode === 'expected' ? 'expected-cost' : '']
        .filter(Boolean)
        .join(', ');
      lines.push(
        `  ${b.scope} ${b.owner} ${b.period}${scope}: $${b.spentUsd.toFixed(2)} of $${b.limitUsd.toFixed(2)} spent (${b.percent}%), $${b.remainingUsd.toFixed(2)} left${b.resetsAt ? `, resets ${b.resetsAt}` : ''}${flags ? ` (${flags})` : ''}`,
      );
    }
  }
  if (view.rateLimits.length > 0) {
    lines.push('Rate limits');
    for (const r of view.rateLimits) {
      const scope = scopeLabel(r);
      lines.push(
        `  ${r.scope} ${r.owner} ${r.kind.replaceAll('_', ' ')}${scope}: ${r.used} of ${r.limit} used, ${r.remaining} left${r.resetsAt ? `, frees ${r.resetsAt}` : ''}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
