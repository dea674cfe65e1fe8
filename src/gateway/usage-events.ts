// One UsageEvent per forwarded call (streams cut short included), for the budget and audit code.
import type { Surface } from '../policy/decision.ts';

export interface UsageEvent {
  requestId: string;
  /** When the call arrived, ISO-8601. */
  time: string;
  /** Policy revision the call was decided under. */
  revision: string;
  keyId: string | null;
  owner: string | null;
  team: string | null;
  session: string | null;
  surface: Surface;
  provider: string;
  model: string;
  /** The price entry used (a dated model is priced by the entry it extends); null when unpriced. */
  pricedModel: string | null;
  stream: boolean;
  /** HTTP status the client received (the upstream's, or the gateway's on 502/504). */
  status: number;
  /** Input tokens at the full input price (cached reads and cache writes excluded). */
  inputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  costUsd: number;
  /** The output count is estimated from streamed text (upstream never reported it). */
  estimated: boolean;
  /** The client went away or the upstream failed before the response completed. */
  aborted: boolean;
  latency: {
    totalMs: number;
    /** Until upstream response headers arrived, from forwarding. */
    upstreamMs: number;
    /** Gateway time before forwarding (auth, hooks, decision). */
    gatewayMs: number;
  };
}

export type UsageListener = (event: UsageEvent) => void;

/** A typed listener list; a throwing listener is reported and never breaks the others. */
export class UsageBus {
  #listeners: UsageListener[] = [];
  readonly #onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void = () => {}) {
    this.#onError = onError;
  }

  subscribe(listener: UsageListener): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  publish(event: UsageEvent): void {
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i](event);
      } catch (err) {
        this.#onError(err);
      }
    }
  }

  get size(): number {
    return this.#listeners.length;
  }
}
