// The lifecycle of the components that follow policy changes (counter store, audit sinks; later
// identity stores and exporters): started with the first active policy, reconfigured by each new
// one, reported in /status the same way, closed at shutdown. A part that cannot switch keeps running
// as it was; its error shows in /status and the switch is tried again while that policy is active.
import type { GatewaySettings, Snapshot } from '../policy/snapshot.ts';
import type { SnapshotHolder } from './snapshot-holder.ts';

/** What /status shows of a component: its own details, and why the latest settings did not apply. */
export type ComponentStatus = Record<string, unknown> & { error?: string };

export interface Component {
  /** Its key in /status. */
  readonly name: string;
  /** Starts with these settings; throws when it cannot (the gateway then does not start). Idempotent. */
  start(settings: GatewaySettings): void;
  /**
   * Follows new settings; resolves with a line for the log when something changed, undefined when
   * nothing did; rejects (and keeps running as it was) when it cannot switch.
   */
  reconfigure(settings: GatewaySettings): Promise<{ message: string; detail: object } | undefined>;
  status(): ComponentStatus;
  close(): Promise<void>;
}

export interface LifecycleLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LifecycleOptions {
  logger: LifecycleLogger;
  /** A switch that failed is tried again after this long. */
  retryMs?: number;
}

export class Lifecycle {
  readonly components: readonly Component[];
  readonly #log: LifecycleLogger;
  readonly #retryMs: number;
  readonly #errors = new Map<Component, string>();
  #started = false;
  #closed = false;
  #switches: Promise<unknown> = Promise.resolve();
  #retry: NodeJS.Timeout | undefined;
  #unfollow: (() => void) | undefined;

  constructor(components: readonly Component[], opts: LifecycleOptions) {
    this.components = components;
    this.#log = opts.logger;
    this.#retryMs = opts.retryMs ?? 30_000;
  }

  /** Starts every component (once); throws the first failure after closing what had started. */
  start(settings: GatewaySettings): void {
    if (this.#started || this.#closed) return;
    const started: Component[] = [];
    try {
      for (const c of this.components) {
        c.start(settings);
        started.push(c);
      }
    } catch (err) {
      for (const c of started) void c.close();
      throw err;
    }
    this.#started = true;
  }

  get started(): boolean {
    return this.#started;
  }

  /**
   * Starts with the holder's snapshot when there is one (throwing as `start` does), and follows every
   * snapshot swapped in: the first starts the components, the later ones reconfigure them.
   */
  follow(holder: SnapshotHolder): void {
    const first = holder.current();
    if (first !== undefined) this.start(first.gateway);
    this.#unfollow = holder.onSwap((next) => {
      if (!this.#started) {
        try {
          this.start(next.gateway);
        } catch (err) {
          this.#log.error(
            { revision: next.revision, err: (err as Error).message },
            'the stores cannot start',
          );
        }
        return;
      }
      this.#follow(holder, next);
    });
  }

  #follow(holder: SnapshotHolder, snapshot: Snapshot): void {
    clearTimeout(this.#retry);
    void this.reconfigure(snapshot.gateway).then((errors) => {
      if (errors.length === 0 || holder.current() !== snapshot || this.#closed) return;
      this.#retry = setTimeout(() => {
        if (holder.current() === snapshot) this.#follow(holder, snapshot);
      }, this.#retryMs);
      this.#retry.unref();
    });
  }

  /** Reconfigures every started component, one switch after another; the errors, also kept for /status. */
  reconfigure(settings: GatewaySettings): Promise<string[]> {
    const run = this.#switches.then(async () => {
      const errors: string[] = [];
      if (!this.#started || this.#closed) return errors;
      for (const c of this.components) {
        try {
          const change = await c.reconfigure(settings);
          this.#errors.delete(c);
          if (change !== undefined) this.#log.info(change.detail, change.message);
        } catch (err) {
          const message = (err as Error).message;
          this.#errors.set(c, message);
          errors.push(`${c.name}: ${message}`);
          this.#log.error(
            { component: c.name, err: message, retryInSeconds: this.#retryMs / 1000 },
            'a store of the new policy cannot start; the running one stays',
          );
        }
      }
      return errors;
    });
    this.#switches = run.catch(() => {});
    return run;
  }

  /** Each component's status under its name, with the error of its latest failed switch. */
  status(): Record<string, ComponentStatus> {
    const out: Record<string, ComponentStatus> = {};
    for (const c of this.components) {
      const error = this.#errors.get(c);
      out[c.name] = error === undefined ? c.status() : { ...c.status(), error };
    }
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#unfollow?.();
    await Promise.all(this.components.map((c) => c.close()));
  }
}
