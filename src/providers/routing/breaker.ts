// One circuit breaker per route target: after `failures` consecutive failures the target is skipped
// for `cooldownMs`, then one trial call decides whether it serves again.

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface BreakerSettings {
  failures: number;
  cooldownMs: number;
}

interface Circuit {
  failures: number;
  openedAt: number;
  /** A trial call is in flight while half-open. */
  trial: boolean;
}

export class CircuitBreakers {
  readonly #circuits = new Map<string, Circuit>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  state(id: string, s: BreakerSettings): CircuitState {
    const c = this.#circuits.get(id);
    if (c === undefined || c.failures < s.failures) return 'closed';
    return this.#now() - c.openedAt >= s.cooldownMs ? 'half-open' : 'open';
  }

  /** May a call go to this target now? A half-open circuit lets one trial through at a time. */
  admit(id: string, s: BreakerSettings): boolean {
    const state = this.state(id, s);
    if (state === 'closed') return true;
    if (state === 'open') return false;
    const c = this.#circuits.get(id)!;
    if (c.trial) return false;
    c.trial = true;
    return true;
  }

  success(id: string): void {
    this.#circuits.delete(id);
  }

  failure(id: string, s: BreakerSettings): void {
    const c = this.#circuits.get(id) ?? { failures: 0, openedAt: 0, trial: false };
    c.failures++;
    // A failed trial re-opens the circuit for a full cool-down.
    if (c.failures >= s.failures) c.openedAt = this.#now();
    c.trial = false;
    this.#circuits.set(id, c);
  }

  /** Every circuit that is not closed, for /status. */
  snapshot(): Array<{ id: string; failures: number; openedAt: number }> {
    return [...this.#circuits.entries()].map(([id, c]) => ({
      id,
      failures: c.failures,
      openedAt: c.openedAt,
    }));
  }
}
