// A routed call as it runs: the candidates the policy allowed, the attempts made on them with the
// reason each one failed, the circuit breakers told of every outcome, and which failures move on.
import type { ModelPrice } from '../../policy/snapshot.ts';
import type { CircuitBreakers } from './breaker.ts';
import { backoffMs, failureKind, retryable } from './retry.ts';
import { type Candidate, candidatePrice, type RoutePlan } from './routes.ts';

export interface AttemptRecord {
  provider: string;
  model: string;
  surface: string;
  translated: boolean;
  /** Upstream status; 0 when it never answered. */
  status: number;
  /** Why the attempt failed (`429`, `5xx`, `timeout`, `connection`, or a preparation error). */
  reason?: string;
  ms: number;
}

/** What the audit record says about a routed call. */
export interface RouteSummary {
  name: string;
  requestedModel: string;
  attempts: AttemptRecord[];
  /** Left out on the way (hosted tools, beta flags the cloud rejects). */
  dropped: string[];
}

export interface Failure {
  status: number;
  code?: string;
  retryAfterSeconds?: number;
}

export class RouteRun {
  readonly plan: RoutePlan;
  /** The candidates the policy allowed, in the order they are tried. */
  readonly candidates: Candidate[];
  readonly attempts: AttemptRecord[] = [];
  readonly dropped: string[] = [];
  readonly #breakers: CircuitBreakers;
  /** The reservation was priced by the first candidate: later ones may not cost more per token. */
  readonly #reserved: ModelPrice | undefined;
  #index = 0;
  #startedAt = performance.now();
  /** The current attempt's outcome is recorded already. */
  #recorded = false;

  constructor(plan: RoutePlan, candidates: Candidate[], breakers: CircuitBreakers) {
    this.plan = plan;
    this.candidates = candidates;
    this.#breakers = breakers;
    this.#reserved = candidates[0] === undefined ? undefined : candidatePrice(candidates[0]);
  }

  get current(): Candidate {
    return this.candidates[this.#index];
  }

  /** The attempt on the current candidate starts now. */
  begin(): void {
    this.#startedAt = performance.now();
    this.#recorded = false;
  }

  #record(status: number, reason?: string): void {
    this.#recorded = true;
    const c = this.current;
    this.attempts.push({
      provider: c.provider.id,
      model: c.model,
      surface: c.surface,
      translated: c.translated,
      status,
      reason,
      ms: Math.round((performance.now() - this.#startedAt) * 1000) / 1000,
    });
  }

  #fits(c: Candidate): boolean {
    const r = this.#reserved;
    const p = candidatePrice(c);
    if (r === undefined || p === undefined) return r === undefined;
    return (
      p.inputPerMTok <= r.inputPerMTok &&
      p.outputPerMTok <= r.outputPerMTok &&
      p.cachedInputPerMTok <= r.cachedInputPerMTok
    );
  }

  /**
   * The current attempt failed: record it, tell its circuit breaker, and move to the next candidate
   * when the route retries this failure, attempts remain and one fits the reservation. Returns the
   * wait before that attempt, or null when the failure stands. The back-off counts from when the
   * failed attempt was sent, so the time its failure took to arrive is not waited a second time: a
   * fallback adds the back-off, not the back-off plus the failed round trip.
   */
  failed(f: Failure): number | null {
    const route = this.plan.route;
    const kind = failureKind(f.status, f.code);
    this.#record(f.status, kind ?? (f.code === undefined ? String(f.status) : f.code));
    if (kind !== undefined) this.#breakers.failure(this.current.breakerId, route.breaker);
    if (!retryable(kind, route.retry) || this.attempts.length >= route.retry.maxAttempts) return null;
    const wait = this.#advance(f.retryAfterSeconds);
    return wait === null ? null : Math.max(0, wait - (performance.now() - this.#startedAt));
  }

  /** The current candidate could not even be prepared (translation refused, cloud credentials missing). */
  unpreparable(reason: string): number | null {
    this.#record(0, reason);
    if (this.attempts.length >= this.plan.route.retry.maxAttempts) return null;
    return this.#advance(undefined);
  }

  #advance(retryAfterSeconds: number | undefined): number | null {
    for (let i = this.#index + 1; i < this.candidates.length; i++) {
      const c = this.candidates[i];
      if (!this.#fits(c)) continue;
      if (!this.#breakers.admit(c.breakerId, this.plan.route.breaker)) continue;
      this.#index = i;
      return backoffMs(this.attempts.length + 1, this.plan.route.retry, retryAfterSeconds);
    }
    return null;
  }

  /** The call ended on the current candidate with this upstream status (0: no answer). */
  finished(status: number, errorCode: string | null): void {
    // A failure that stood was recorded (and told to its breaker) when it happened.
    if (this.#recorded) return;
    const kind = failureKind(status, errorCode ?? undefined);
    this.#record(status, kind);
    if (kind === undefined) this.#breakers.success(this.current.breakerId);
    else this.#breakers.failure(this.current.breakerId, this.plan.route.breaker);
  }

  summary(): RouteSummary {
    return {
      name: this.plan.route.name,
      requestedModel: this.plan.requestedModel,
      attempts: this.attempts,
      dropped: this.dropped,
    };
  }
}
