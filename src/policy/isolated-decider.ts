// The decision of one revision, evaluated in its own worker thread so that no Rego can stall the
// gateway. The gateway thread hands the input over through shared memory and waits for the answer
// at most the decision budget (Atomics.wait): a decision that runs past it fails closed for that
// call. The worker then gets a grace period to finish; one that does not is a runaway, so it is
// terminated (V8 stops Wasm mid-loop) and the revision reports a fault, which the policy manager
// answers by restoring the last good revision. Until then, calls on the faulted revision fail at
// once instead of waiting again.
//
// Measured against evaluating in-process (bench/decision-isolation.ts): the hand-off adds a few
// microseconds per decision; the Wasm time itself moves off the gateway's thread.
import { Worker } from 'node:worker_threads';
import type { Decision, DecisionInput } from './decision.ts';
import {
  ANNOUNCE,
  type Channel,
  createChannel,
  ensureRoom,
  LENGTH,
  MAX_BYTES,
  REQUEST,
  RESPONSE,
  STATUS,
  STATUS_OK,
} from './decision-channel.ts';
import type { DecisionWorkerData } from './decision-worker-thread.ts';
import { DecisionError } from './wasm-policy.ts';

export const DEFAULT_DECISION_BUDGET_MS = 50;
/** How long a decision that overran its budget may still take before it counts as a runaway. */
export const DEFAULT_RUNAWAY_GRACE_MS = 1000;

/** A decision did not finish within its budget; the call it belongs to is refused. */
export class DecisionTimeoutError extends DecisionError {
  override name = 'DecisionTimeoutError';
}

export interface DeciderOptions {
  budgetMs?: number;
  runawayGraceMs?: number;
}

/** What a timed evaluation produced: the parsed value (possibly undefined) or the error, and how long it took. */
export type TimedResult =
  | { ok: true; value: unknown; ms: number }
  | { ok: false; error: string; timedOut: boolean; ms: number };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const RECENT_RESULTS = 4;

export class IsolatedDecider {
  readonly budgetMs: number;
  readonly #grace: number;
  readonly #channel: Channel;
  readonly #worker: Worker;
  #seq = 0;
  /** The worker is still on a decision that overran its budget. */
  #overrun = false;
  #fault: string | undefined;
  #closed = false;
  #onFault: ((reason: string) => void) | undefined;
  readonly #recent: { bytes: Buffer; result: unknown }[] = [];

  private constructor(channel: Channel, worker: Worker, options: DeciderOptions) {
    this.#channel = channel;
    this.#worker = worker;
    this.budgetMs = options.budgetMs ?? DEFAULT_DECISION_BUDGET_MS;
    this.#grace = options.runawayGraceMs ?? DEFAULT_RUNAWAY_GRACE_MS;
    worker.on('error', (err: unknown) =>
      this.#faulted(`the decision worker failed: ${(err as Error).message}`),
    );
    worker.on('exit', (code) => {
      if (!this.#closed) this.#faulted(`the decision worker exited (code ${code})`);
    });
    worker.unref();
  }

  /** Starts a worker with the compiled policy and its data document; resolves once it is ready. */
  static async start(wasm: Buffer, data: unknown, options: DeciderOptions = {}): Promise<IsolatedDecider> {
    const channel = createChannel();
    const workerData: DecisionWorkerData = {
      wasm: new Uint8Array(wasm),
      data: JSON.stringify(data),
      sab: channel.sab,
    };
    const worker = new Worker(new URL('./decision-worker-thread.ts', import.meta.url), {
      workerData,
      // The gateway's flags (--cpu-prof, --inspect, test runner flags) are not the worker's business.
      execArgv: [],
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      const onExit = (code: number) =>
        reject(new Error(`the decision worker exited (code ${code}) while loading`));
      worker.once('error', onError);
      worker.once('exit', onExit);
      worker.once('message', () => {
        worker.off('error', onError);
        worker.off('exit', onExit);
        resolve();
      });
    });
    return new IsolatedDecider(channel, worker, options);
  }

  /** Why this revision stopped deciding (a runaway decision, a dead worker), if it did. */
  get fault(): string | undefined {
    return this.#fault;
  }

  /** Called once when the decider faults; the policy manager restores the last good revision. */
  set onFault(handler: ((reason: string) => void) | undefined) {
    this.#onFault = handler;
    if (handler && this.#fault !== undefined) handler(this.#fault);
  }

  /** The decision for `input`, or a DecisionError (undefined decision, evaluation error, time-out). */
  evaluate = (input: DecisionInput): Decision => {
    const seq = this.#send(input);
    const { ctl } = this.#channel;
    const deadline = performance.now() + this.budgetMs;
    while (Atomics.load(ctl, RESPONSE) !== seq) {
      const left = deadline - performance.now();
      if (left <= 0 || Atomics.wait(ctl, RESPONSE, seq - 1, left) === 'timed-out') {
        if (Atomics.load(ctl, RESPONSE) === seq) break;
        this.#overran(seq);
        throw new DecisionTimeoutError(
          `the policy decision did not finish within ${this.budgetMs} ms; the call is refused`,
        );
      }
    }
    const result = this.#result();
    const decision = result as { result?: Decision }[] | undefined;
    const value = decision?.[0]?.result;
    if (!value || typeof value.allow !== 'boolean') {
      // An undefined decision is a policy bug; refuse rather than guess.
      throw new DecisionError(
        'the policy returned no decision (data.portcullis.gateway.decision is undefined)',
      );
    }
    return value;
  };

  /**
   * Evaluates off the caller's thread without blocking it (admission): the decision's value as the
   * policy returned it, or its error, or a time-out after `budgetMs`, which terminates the worker.
   */
  async evaluateTimed(input: unknown, budgetMs = this.budgetMs): Promise<TimedResult> {
    const started = performance.now();
    let seq: number;
    try {
      seq = this.#send(input, true);
    } catch (err) {
      return { ok: false, error: (err as Error).message, timedOut: false, ms: 0 };
    }
    const { ctl } = this.#channel;
    // Atomics.waitAsync does not wake an otherwise idle event loop, so the worker posts a message.
    const answered = await new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#worker.off('message', onMessage);
        resolve(ok);
      };
      const onMessage = (answeredSeq: unknown) => {
        if (answeredSeq === seq) done(true);
      };
      const timer = setTimeout(() => done(Atomics.load(ctl, RESPONSE) === seq), budgetMs);
      this.#worker.on('message', onMessage);
      if (Atomics.load(ctl, RESPONSE) === seq) done(true);
    });
    const ms = performance.now() - started;
    if (!answered) {
      this.#faulted(`a decision did not finish within ${budgetMs} ms`);
      return { ok: false, error: `did not finish within ${budgetMs} ms`, timedOut: true, ms };
    }
    try {
      const results = this.#result() as { result?: unknown }[] | undefined;
      return { ok: true, value: results?.[0]?.result, ms };
    } catch (err) {
      return { ok: false, error: (err as Error).message, timedOut: false, ms };
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#worker.terminate();
  }

  #send(input: unknown, announce = false): number {
    if (this.#fault !== undefined)
      throw new DecisionError(`this policy revision no longer decides: ${this.#fault}`);
    if (this.#closed) throw new DecisionError('this policy revision was retired');
    if (this.#overrun) {
      throw new DecisionTimeoutError('the policy is still busy with a decision that overran its budget');
    }
    const json = JSON.stringify(input);
    // UTF-8 needs at most three bytes per UTF-16 unit.
    if (!ensureRoom(this.#channel, json.length * 3)) {
      throw new DecisionError(`the decision input is larger than ${MAX_BYTES} bytes`);
    }
    const { ctl, bytes } = this.#channel;
    const { written } = encoder.encodeInto(json, bytes);
    Atomics.store(ctl, LENGTH, written);
    Atomics.store(ctl, ANNOUNCE, announce ? 1 : 0);
    const seq = ++this.#seq;
    Atomics.store(ctl, REQUEST, seq);
    Atomics.notify(ctl, REQUEST);
    return seq;
  }

  /** The answer in the channel: parsed (the last few distinct answers are reused, frozen) or thrown. */
  #result(): unknown {
    const { ctl, bytes } = this.#channel;
    const length = Atomics.load(ctl, LENGTH);
    const view = bytes.subarray(0, length);
    if (Atomics.load(ctl, STATUS) !== STATUS_OK) throw new DecisionError(decoder.decode(view.slice()));
    for (const r of this.#recent) if (r.bytes.equals(view)) return r.result;
    const copy = Buffer.from(view);
    const result = deepFreeze(JSON.parse(copy.toString('utf8')));
    if (this.#recent.length >= RECENT_RESULTS) this.#recent.pop();
    this.#recent.unshift({ bytes: copy, result });
    return result;
  }

  /** The call fails closed now; if the worker does not finish within the grace, it is a runaway. */
  #overran(seq: number): void {
    this.#overrun = true;
    Atomics.store(this.#channel.ctl, ANNOUNCE, 1);
    const onMessage = (answeredSeq: unknown) => {
      if (answeredSeq !== seq) return;
      clearTimeout(timer);
      this.#worker.off('message', onMessage);
      this.#overrun = false;
    };
    const timer = setTimeout(() => {
      this.#worker.off('message', onMessage);
      if (Atomics.load(this.#channel.ctl, RESPONSE) === seq) this.#overrun = false;
      else {
        this.#faulted(
          `a decision ran past its ${this.budgetMs} ms budget and was still running ${this.#grace} ms later`,
        );
      }
    }, this.#grace);
    timer.unref();
    this.#worker.on('message', onMessage);
    if (Atomics.load(this.#channel.ctl, RESPONSE) === seq) onMessage(seq);
  }

  #faulted(reason: string): void {
    if (this.#fault !== undefined || this.#closed) return;
    this.#fault = reason;
    void this.#worker.terminate();
    this.#onFault?.(reason);
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
