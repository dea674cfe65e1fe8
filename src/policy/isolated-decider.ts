// The decision of one revision, evaluated in its own worker thread so that no Rego can stall the
// gateway. The gateway thread hands the input over through shared memory and waits for the answer
// (Atomics.wait). The budget is CPU time of the worker thread, read from the kernel when the wait
// runs out, so a busy machine that leaves the worker without a core does not count against the
// policy; a decision that has used its budget fails closed for that call, and so does one still
// unanswered at the wall-clock limit. The worker then gets a grace period to finish; one that does
// not, having used its budget, is a runaway, so it is terminated (V8 stops Wasm mid-loop) and the
// revision reports a fault, which the policy manager answers by restoring the last good revision.
// Until then, calls on that revision fail at once instead of waiting again.
//
// Against evaluating on the gateway's thread, the hand-off costs a few microseconds of waiting per
// decision while the Wasm time itself moves off the gateway's thread (bench gateway --baseline).
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Decision, DecisionInput } from './decision.ts';
import {
  ANNOUNCE,
  type Channel,
  CPU_AT_START,
  CPU_SPENT,
  createChannel,
  ensureRoom,
  LENGTH,
  MAX_BYTES,
  REQUEST,
  RESPONSE,
  STARTED,
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
  /** CPU time one decision may use (default 50 ms). */
  budgetMs?: number;
  runawayGraceMs?: number;
  /** Wall-clock time a call waits for its decision at most (default 20 budgets, at least 1 s). */
  waitLimitMs?: number;
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
  readonly #waitLimit: number;
  /** `/proc/<pid>/task/<tid>/schedstat` of the worker thread, when the OS has one. */
  readonly #schedstat: string | undefined;
  readonly #channel: Channel;
  readonly #worker: Worker;
  #seq = 0;
  /** The worker is still on a decision that overran its budget. */
  #overrun = false;
  #fault: string | undefined;
  #closed = false;
  #onFault: ((reason: string) => void) | undefined;
  readonly #recent: { bytes: Buffer; result: unknown }[] = [];

  private constructor(channel: Channel, worker: Worker, thread: string | undefined, options: DeciderOptions) {
    this.#channel = channel;
    this.#worker = worker;
    this.budgetMs = options.budgetMs ?? DEFAULT_DECISION_BUDGET_MS;
    this.#grace = options.runawayGraceMs ?? DEFAULT_RUNAWAY_GRACE_MS;
    this.#waitLimit = options.waitLimitMs ?? Math.max(this.budgetMs * 20, 1000);
    this.#schedstat = thread === undefined ? undefined : `/proc/${thread}/schedstat`;
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
    const thread = await new Promise<string | undefined>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      const onExit = (code: number) =>
        reject(new Error(`the decision worker exited (code ${code}) while loading`));
      worker.once('error', onError);
      worker.once('exit', onExit);
      worker.once('message', (ready: { thread?: string }) => {
        worker.off('error', onError);
        worker.off('exit', onExit);
        resolve(ready.thread);
      });
    });
    return new IsolatedDecider(channel, worker, thread, options);
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
    const started = performance.now();
    let deadline = started + this.budgetMs;
    while (Atomics.load(ctl, RESPONSE) !== seq) {
      const left = deadline - performance.now();
      if (left > 0) {
        Atomics.wait(ctl, RESPONSE, seq - 1, left);
        continue;
      }
      const spent = this.#cpuSpentMs(seq);
      const now = performance.now();
      if (spent === undefined || spent >= this.budgetMs || now - started >= this.#waitLimit) {
        if (Atomics.load(ctl, RESPONSE) === seq) break;
        this.#overran(seq);
        throw new DecisionTimeoutError(
          spent !== undefined && spent < this.budgetMs
            ? `the policy decision got no answer within ${this.#waitLimit} ms (the machine is overloaded); the call is refused`
            : `the policy decision did not finish within its ${this.budgetMs} ms budget; the call is refused`,
        );
      }
      // The worker has not had its budget of CPU yet (the machine is busy): wait for the rest.
      deadline = now + Math.max(1, this.budgetMs - spent);
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
      let timer: NodeJS.Timeout;
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#worker.off('message', onMessage);
        resolve(ok);
      };
      const onMessage = (answeredSeq: unknown) => {
        if (answeredSeq === seq) done(true);
      };
      const check = (wait: number) => {
        timer = setTimeout(() => {
          if (Atomics.load(ctl, RESPONSE) === seq) return done(true);
          const spent = this.#cpuSpentMs(seq);
          const wall = performance.now() - started;
          if (spent === undefined || spent >= budgetMs || wall >= Math.max(budgetMs * 10, this.#waitLimit))
            done(false);
          else check(Math.max(1, budgetMs - spent));
        }, wait);
      };
      check(budgetMs);
      this.#worker.on('message', onMessage);
      if (Atomics.load(ctl, RESPONSE) === seq) done(true);
    });
    const wallMs = performance.now() - started;
    if (!answered) {
      this.#faulted(`a decision did not finish within ${budgetMs} ms`);
      return { ok: false, error: `did not finish within ${budgetMs} ms`, timedOut: true, ms: wallMs };
    }
    // What the decision cost the worker in CPU time, where a busy machine does not inflate it.
    const ms = this.#schedstat === undefined ? wallMs : this.#channel.cpu[CPU_SPENT] / 1000;
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
    let timer: NodeJS.Timeout;
    const check = () => {
      timer = setTimeout(() => {
        if (Atomics.load(this.#channel.ctl, RESPONSE) === seq) return onMessage(seq);
        const spent = this.#cpuSpentMs(seq);
        // Still waiting for a core: not the policy's fault yet.
        if (spent !== undefined && spent < this.budgetMs + this.#grace) return check();
        this.#worker.off('message', onMessage);
        this.#faulted(
          `a decision ran past its ${this.budgetMs} ms budget and was still running ${this.#grace} ms later`,
        );
      }, this.#grace);
      timer.unref();
    };
    check();
    this.#worker.on('message', onMessage);
    if (Atomics.load(this.#channel.ctl, RESPONSE) === seq) onMessage(seq);
  }

  /** CPU ms the worker has spent on request `seq` so far: 0 before it started, undefined when unknown. */
  #cpuSpentMs(seq: number): number | undefined {
    if (Atomics.load(this.#channel.ctl, STARTED) !== seq) return 0;
    if (this.#schedstat === undefined) return undefined;
    try {
      const text = readFileSync(this.#schedstat, 'latin1');
      const ns = Number(text.slice(0, text.indexOf(' ')));
      return Math.max(0, ns / 1e6 - this.#channel.cpu[CPU_AT_START] / 1000);
    } catch {
      return undefined;
    }
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
