// Which budget thresholds a settled call pushed past, claimed once across replicas and queued for
// delivery. Runs after the call settled, never before its answer: alerts cannot delay a call.

import { microToUsd } from '../limits/money.ts';
import type { LimitPlan } from '../limits/planner.ts';
import type { CounterStore, ReserveResult, TotalCounterSpec } from '../limits/store.ts';
import type { AlertDispatcher } from './dispatcher.ts';
import type { BudgetAlert } from './types.ts';

/** A soft budget with no thresholds of its own still says when it is spent. */
const SOFT_DEFAULT: readonly number[] = [100];
/** How long a claim outlives a budget that never resets (`total`). */
const FOREVER_MS = 400 * 86_400_000;
/** Thresholds this process knows are claimed; cleared when it grows past this. */
const KNOWN_MAX = 100_000;

export interface SettledCall {
  plan: LimitPlan;
  reserved: ReserveResult;
  /** What the call cost, in micro-USD. */
  costMicroUsd: number;
  policyRevision: string;
  now: Date;
}

export class BudgetAlerts {
  readonly #dispatcher: AlertDispatcher;
  readonly #known = new Set<string>();

  constructor(dispatcher: AlertDispatcher) {
    this.#dispatcher = dispatcher;
  }

  /**
   * The alerts this call fired (already queued for delivery), for its audit record. A store that
   * cannot answer fires nothing now; the next call on the same budget tries again.
   */
  async afterSettle(store: CounterStore, call: SettledCall): Promise<BudgetAlert[]> {
    const candidates: { index: number; thresholds: number[] }[] = [];
    call.plan.facts.forEach((fact, i) => {
      if (fact.type !== 'budget' || fact.limitMicro <= 0) return;
      const thresholds =
        fact.alertAt.length > 0 ? fact.alertAt : fact.enforcement === 'soft' ? SOFT_DEFAULT : [];
      if (thresholds.length === 0) return;
      const counter = call.plan.counters[i];
      // The spend after this call as this call saw it; other calls only add to it.
      const seen = (call.reserved.counters[i]?.used ?? 0) + call.costMicroUsd;
      const due = thresholds.filter(
        (t) => seen * 100 >= t * fact.limitMicro && !this.#known.has(claimId(counter.id, t)),
      );
      if (due.length > 0) candidates.push({ index: i, thresholds: due });
    });
    if (candidates.length === 0) return [];

    const counters = candidates.map((c) => call.plan.counters[c.index]);
    let used: number[];
    try {
      used = (await store.peek({ counters, now: call.now })).map((u) => u.used);
    } catch {
      return [];
    }
    const fired: BudgetAlert[] = [];
    for (let n = 0; n < candidates.length; n++) {
      const { index, thresholds } = candidates[n];
      const fact = call.plan.facts[index];
      if (fact.type !== 'budget') continue;
      const counter = counters[n] as TotalCounterSpec;
      for (const t of thresholds) {
        if (used[n] * 100 < t * fact.limitMicro) continue;
        const id = claimId(counter.id, t);
        let mine: boolean;
        try {
          mine = await store.claim(id, counter.expiresAt ?? call.now.getTime() + FOREVER_MS);
        } catch {
          continue;
        }
        this.#remember(id);
        if (!mine) continue;
        const alert: BudgetAlert = {
          id,
          time: call.now.toISOString(),
          budget: fact.id,
          scope: fact.scope,
          owner: fact.owner,
          period: fact.period,
          thresholdPct: t,
          limitUsd: fact.limitUsd,
          usedUsd: microToUsd(used[n]),
          enforcement: fact.enforcement,
          policyRevision: call.policyRevision,
        };
        if (fact.models !== undefined) alert.models = fact.models;
        if (fact.providers !== undefined) alert.providers = fact.providers;
        if (fact.resetsAt !== undefined) alert.resetsAt = fact.resetsAt;
        fired.push(alert);
        this.#dispatcher.send(alert);
      }
    }
    return fired;
  }

  #remember(id: string): void {
    if (this.#known.size >= KNOWN_MAX) this.#known.clear();
    this.#known.add(id);
  }
}

/** The claim of one threshold in one period: the counter id carries the period key. */
function claimId(counterId: string, thresholdPct: number): string {
  return `alert:${counterId}:${thresholdPct}`;
}
