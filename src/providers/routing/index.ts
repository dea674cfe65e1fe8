// Routing a call: the Route it matches, the candidates it may try in order, and the facts the policy
// sees about them. The policy answers which candidates the call may use (`routeTargets`).
import { createHash } from 'node:crypto';
import type { RouteFacts, Surface } from '../../policy/decision.ts';
import type { ResolvedKey, Snapshot } from '../../policy/snapshot.ts';
import type { CircuitBreakers } from './breaker.ts';
import { type Candidate, matchRoute, planRoute, type RoutePlan, routesOf } from './routes.ts';

export { CircuitBreakers, type CircuitState } from './breaker.ts';
export { backoffMs, type FailureKind, failureKind, retryable } from './retry.ts';
export { type Candidate, type CompiledRoute, candidatePrice, type RoutePlan, routesOf } from './routes.ts';

export function routeFacts(plan: RoutePlan): RouteFacts {
  const first = plan.candidates[0];
  return {
    name: plan.route.name,
    requestedModel: plan.requestedModel,
    first: first === undefined ? -1 : plan.all.indexOf(first),
    maxAttempts: plan.route.retry.maxAttempts,
    targets: plan.all.map((c) => ({
      provider: c.provider.id,
      model: c.model,
      api: c.provider.api,
      surface: c.surface,
      role: c.role,
      weight: c.weight,
      translated: c.translated,
      circuit: c.circuit,
    })),
  };
}

/**
 * The weighted pick for a call: fixed per agent session (so one session stays on one deployment and
 * keeps its provider-side prompt cache), random for calls without one.
 */
export function stickyChoice(session: string | undefined): (() => number) | undefined {
  if (session === undefined) return undefined;
  const h = createHash('sha256').update(session).digest();
  const x = h.readUInt32BE(0) / 2 ** 32;
  return () => x;
}

/** The plan for a call, or undefined when no Route matches it. */
export function planFor(
  snapshot: Snapshot,
  surface: Surface,
  model: string,
  key: ResolvedKey | null,
  breakers: CircuitBreakers,
  random?: () => number,
): RoutePlan | undefined {
  const route = matchRoute(routesOf(snapshot), surface, model, key);
  return route === undefined ? undefined : planRoute(snapshot, route, surface, model, breakers, random);
}

/** The candidates the policy lets the call use (`decision.routeTargets`), in the plan's order. */
export function allowedCandidates(plan: RoutePlan, routeTargets: readonly number[] | undefined): Candidate[] {
  if (routeTargets === undefined) return plan.candidates;
  return plan.candidates.filter((c) => routeTargets.includes(plan.all.indexOf(c)));
}
