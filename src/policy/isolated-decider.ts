// The decision of one revision, evaluated so that no Rego can stall the gateway. A revision whose Wasm
// takes a fuel gauge (metered-evaluator.ts) is decided on the gateway's own thread, each decision with
// a budget's worth of fuel; one that runs out fails its call closed and faults the revision. Every
// revision also gets a worker thread, where admission's canaries run (a runaway canary never touches
// the gateway's thread) and where a revision that cannot be metered is decided. Two ways into the
// worker, over one shared-memory channel (decision-channel.ts):
// - `decide` (calls decided under load): the decisions asked for in one turn of the event loop go
//   to the worker as one batch and the gateway's thread carries on serving; the worker posts a
//   message when the answers are in. Evaluation runs beside the event loop instead of on it.
// - `evaluate` (a call alone, the limits refusal, MCP): hands one input over and waits for the
//   answer (Atomics.wait), which for a lone call is quicker than a message round trip.
// The budget is CPU time of the worker thread, read from the kernel when a wait runs out, so a busy
// machine that leaves the worker without a core does not count against the policy (a decision gets
// one budget of wall-clock time, then one budget of the worker's CPU time). A decision that
// has used its budget fails closed for its call (and a batch's other calls with it); so does one
// still unanswered at the wall-clock limit. The worker then gets a grace period to finish; one that
// does not, having used its budget, is a runaway: the worker is terminated (V8 stops Wasm mid-loop)
// and the revision reports a fault, which the policy manager answers by restoring the last good
// revision. Until the worker is free again, calls on that revision fail at once instead of waiting.
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Decision, DecisionInput } from './decision.ts';
import {
  ANNOUNCE,
  type Channel,
  COUNT,
  CPU_SPENT,
  createChannel,
  ensureRoom,
  ITEM,
  LENGTH,
  MAX_BYTES,
  REQUEST,
  RESPONSE,
  STARTED,
  STATUS,
  STATUS_OK,
} from './decision-channel.ts';
import type { DecisionWorkerData } from './decision-worker-thread.ts';
import { FuelExhaustedError, loadMeteredEvaluator, type MeteredEvaluator } from './metered-evaluator.ts';
import { DecisionError } from './wasm-policy.ts';

export const DEFAULT_DECISION_BUDGET_MS = 50;
/** How long a decision that overran its budget may still take before it counts as a runaway. */
export const DEFAULT_RUNAWAY_GRACE_MS = 1000;
/**
 * How long a batch may go unanswered while its worker gets no CPU before its calls are refused. Its
 * callers wait without blocking the gateway's thread, so this only bounds a call on a starved host.
 */
const BATCH_WAIT_LIMIT_MS = 30_000;
/**
 * A metered decision that finished but took this many budgets of wall-clock time faults its revision:
 * fuel bounds instructions, and this catches code whose instructions are far slower than measured.
 * Generous, because a pause of the whole process (a full GC, a starved core) counts here too.
 */
const METERED_WALL_LIMIT_BUDGETS = 10;
/** Decisions sent to the worker in one batch at most. */
const MAX_BATCH = 256;

/** A decision did not finish within its budget; the call it belongs to is refused. */
export class DecisionTimeoutError extends DecisionError {
  override name = 'DecisionTimeoutError';
}

export interface DeciderOptions {
  /** CPU time one decision may use (default 50 ms). */
  budgetMs?: number;
  runawayGraceMs?: number;
  /** Wall-clock time a lone call blocks for its decision at most (default 40 budgets, at least 2 s). */
  waitLimitMs?: number;
  /** Decide on the caller's thread when the Wasm can be metered (default true). */
  meter?: boolean;
  /** Fuel per ms of budget for decisions on the caller's thread (default FUEL_PER_MS). */
  fuelPerMs?: number;
}

/** What a timed evaluation produced: the parsed value (possibly undefined) or the error, and how long it took. */
export type TimedResult =
  | { ok: true; value: unknown; ms: number }
  | { ok: false; error: string; timedOut: boolean; ms: number };

interface Pending {
  input: DecisionInput;
  resolve: (d: Decision) => void;
  reject: (err: unknown) => void;
}

interface Batch {
  seq: number;
  items: Pending[];
  started: number;
  timer: NodeJS.Timeout | undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const RECENT_RESULTS = 4;
const UNDEFINED_DECISION = 'the policy returned no decision (data.portcullis.gateway.decision is undefined)';

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
  #queue: Pending[] = [];
  #scheduled = false;
  #batch: Batch | undefined;
  /** Where the worker's CPU clock stood when an input's wait first ran out (see #cpuSpentMs). */
  #cpuMark: { seq: number; item: number; ns: number } | undefined;
  readonly #metered: MeteredEvaluator | undefined;
  /** Admission is over and calls are decided on the caller's thread: the worker has been let go. */
  #workerReleased = false;
  /** Why this revision is decided in its worker thread rather than on the caller's, when it is. */
  readonly unmetered: string | undefined;

  private constructor(
    channel: Channel,
    worker: Worker,
    thread: string | undefined,
    metered: MeteredEvaluator | { unmeterable: string },
    options: DeciderOptions,
  ) {
    this.#channel = channel;
    this.#worker = worker;
    this.#metered = 'unmeterable' in metered ? undefined : metered;
    this.unmetered = 'unmeterable' in metered ? metered.unmeterable : undefined;
    this.budgetMs = options.budgetMs ?? DEFAULT_DECISION_BUDGET_MS;
    this.#grace = options.runawayGraceMs ?? DEFAULT_RUNAWAY_GRACE_MS;
    this.#waitLimit = options.waitLimitMs ?? Math.max(this.budgetMs * 40, 2000);
    this.#schedstat = thread === undefined ? undefined : `/proc/${thread}/schedstat`;
    worker.on('error', (err: unknown) =>
      this.#faulted(`the decision worker failed: ${(err as Error).message}`),
    );
    worker.on('exit', (code) => {
      if (!this.#closed && !this.#workerReleased) this.#faulted(`the decision worker exited (code ${code})`);
    });
    worker.on('message', (seq: unknown) => {
      if (this.#batch?.seq === seq) this.#completeBatch();
    });
    worker.unref();
  }

  /** Starts a worker with the compiled policy and its data document; resolves once it is ready. */
  static async start(wasm: Buffer, data: unknown, options: DeciderOptions = {}): Promise<IsolatedDecider> {
    const channel = createChannel();
    // The data document goes over as JSON bytes that OPA parses straight into Wasm memory: parsed
    // into JavaScript objects first (10,000 keys: ~3 MB of JSON), it grew the worker's heap for good.
    const json = encoder.encode(JSON.stringify(data));
    const budgetMs = options.budgetMs ?? DEFAULT_DECISION_BUDGET_MS;
    const metered =
      options.meter === false
        ? { unmeterable: 'metering is turned off' }
        : await loadMeteredEvaluator(wasm, json, budgetMs, options.fuelPerMs);
    const workerData: DecisionWorkerData = {
      wasm: new Uint8Array(wasm),
      data: (json.byteLength === json.buffer.byteLength ? json : json.slice()).buffer as ArrayBuffer,
      sab: channel.sab,
    };
    // `.ts` from the source tree, `.js` from the built package (dist/).
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    const worker = new Worker(new URL(`./decision-worker-thread.${ext}`, import.meta.url), {
      workerData,
      transferList: [workerData.data],
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
    return new IsolatedDecider(channel, worker, thread, metered, options);
  }

  /**
   * Admission is over: a revision decided on the caller's thread lets its worker thread go (its V8
   * isolate and its copy of the policy's Wasm memory). Later timed evaluations run metered here.
   */
  releaseWorker(): void {
    if (this.#metered === undefined || this.#workerReleased || this.#closed) return;
    this.#workerReleased = true;
    void this.#worker.terminate();
  }

  /** The revision ran away elsewhere (another process deciding it): it stops deciding here too. */
  reportFault(reason: string): void {
    this.#faulted(reason);
  }

  /** Whether calls are decided on the caller's thread (metered) rather than in the worker. */
  get onCallersThread(): boolean {
    return this.#metered !== undefined;
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

  /** The decision for `input`, decided with the others asked for in this turn, without blocking this thread. */
  decide(input: DecisionInput): Promise<Decision> {
    const refusal = this.#refusal();
    if (refusal) return Promise.reject(refusal);
    return new Promise((resolve, reject) => {
      this.#queue.push({ input, resolve, reject });
      if (!this.#scheduled && this.#batch === undefined) {
        this.#scheduled = true;
        setImmediate(this.#flush);
      }
    });
  }

  /** The decision for `input`, or a DecisionError (undefined decision, evaluation error, time-out). */
  evaluate = (input: DecisionInput): Decision => {
    if (this.#metered !== undefined) return decisionOf(this.#evaluateMetered(this.#metered, input));
    if (this.#batch !== undefined) this.#waitForBatch();
    const seq = this.#send(input, false);
    const timeout = this.#waitSync(seq, Math.max(this.budgetMs, this.#waitLimit));
    if (timeout !== undefined) throw timeout;
    return decisionOf(this.#result());
  };

  /**
   * For admission: the fuel `input`'s decision uses on the caller's thread (Infinity when it runs
   * out, which here faults nothing), or undefined when decisions run in the worker or it fails
   * otherwise (the worker's evaluation reports that). Run it only after the worker has shown the
   * decision ends within its budget: it blocks this thread for as long as the decision runs.
   */
  fuelUsed(input: unknown): number | undefined {
    const metered = this.#metered;
    if (metered === undefined) return undefined;
    try {
      metered.evaluate(JSON.stringify(input));
      return metered.fuel - metered.fuelLeft;
    } catch (err) {
      return err instanceof FuelExhaustedError ? Number.POSITIVE_INFINITY : undefined;
    }
  }

  /** The fuel each decision on the caller's thread gets (0 when decisions run in the worker). */
  get fuel(): number {
    return this.#metered?.fuel ?? 0;
  }

  /** A decision on this thread, within its fuel; one that runs out (or runs far too long) faults the revision. */
  #evaluateMetered(metered: MeteredEvaluator, input: DecisionInput): unknown {
    const refusal = this.#refusal();
    if (refusal) throw refusal;
    const started = performance.now();
    let bytes: Uint8Array;
    try {
      bytes = metered.evaluate(JSON.stringify(input));
    } catch (err) {
      if (!(err instanceof FuelExhaustedError)) throw new DecisionError(errorText(err));
      this.#faulted(
        `a decision used up the fuel of its ${this.budgetMs} ms budget (a rule that never ends?)`,
      );
      throw this.#timeoutError(undefined);
    }
    const ms = performance.now() - started;
    if (ms > this.budgetMs * METERED_WALL_LIMIT_BUDGETS) {
      this.#faulted(
        `a decision took ${Math.round(ms)} ms on the gateway's thread, over ${METERED_WALL_LIMIT_BUDGETS} budgets of ${this.budgetMs} ms`,
      );
      throw this.#timeoutError(undefined);
    }
    return this.#parse(bytes);
  }

  /**
   * Evaluates off the caller's thread without blocking it (admission): the decision's value as the
   * policy returned it, or its error, or a time-out after `budgetMs`, which terminates the worker.
   */
  async evaluateTimed(input: unknown, budgetMs = this.budgetMs): Promise<TimedResult> {
    const started = performance.now();
    if (this.#workerReleased && this.#metered !== undefined) {
      try {
        const results = this.#evaluateMetered(this.#metered, input as DecisionInput) as {
          result?: unknown;
        }[];
        return { ok: true, value: results?.[0]?.result, ms: performance.now() - started };
      } catch (err) {
        const timedOut = err instanceof DecisionTimeoutError;
        return { ok: false, error: errorText(err), timedOut, ms: performance.now() - started };
      }
    }
    let seq: number;
    try {
      if (this.#batch !== undefined) this.#waitForBatch();
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
          if (spent === undefined || spent >= budgetMs || wall >= Math.max(budgetMs * 10, this.#waitLimit)) {
            done(false);
          } else check(Math.max(1, budgetMs - spent));
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
    this.#failBatch(new DecisionError('this policy revision was retired'));
    await this.#worker.terminate();
  }

  #refusal(): DecisionError | undefined {
    if (this.#fault !== undefined)
      return new DecisionError(`this policy revision no longer decides: ${this.#fault}`);
    if (this.#closed) return new DecisionError('this policy revision was retired');
    if (this.#overrun) {
      return new DecisionTimeoutError('the policy is still busy with a decision that overran its budget');
    }
    return undefined;
  }

  #send(input: unknown, announce: boolean): number {
    const refusal = this.#refusal();
    if (refusal) throw refusal;
    const json = JSON.stringify(input);
    // UTF-8 needs at most three bytes per UTF-16 unit.
    if (!ensureRoom(this.#channel, json.length * 3)) {
      throw new DecisionError(`the decision input is larger than ${MAX_BYTES} bytes`);
    }
    const { ctl, bytes } = this.#channel;
    const { written } = encoder.encodeInto(json, bytes);
    Atomics.store(ctl, LENGTH, written);
    Atomics.store(ctl, COUNT, 0);
    return this.#go(announce);
  }

  #go(announce: boolean): number {
    const { ctl } = this.#channel;
    Atomics.store(ctl, ANNOUNCE, announce ? 1 : 0);
    const seq = ++this.#seq;
    Atomics.store(ctl, REQUEST, seq);
    Atomics.notify(ctl, REQUEST);
    return seq;
  }

  /**
   * Blocks until request `seq` is answered; past its CPU budget (or the wall-clock limit) the
   * request is given up, the worker left to the runaway check, and the error returned.
   */
  #waitSync(seq: number, wallLimit: number): DecisionTimeoutError | undefined {
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
      if (spent === undefined || spent >= this.budgetMs || now - started >= wallLimit) {
        if (Atomics.load(ctl, RESPONSE) === seq) break;
        this.#overran(seq);
        return this.#timeoutError(spent);
      }
      // The worker has not had its budget of CPU yet (the machine is busy): wait for the rest.
      deadline = now + Math.max(1, this.budgetMs - spent);
    }
    return undefined;
  }

  #timeoutError(spent: number | undefined): DecisionTimeoutError {
    return new DecisionTimeoutError(
      spent !== undefined && spent < this.budgetMs
        ? `the policy decision got no answer within ${this.#waitLimit} ms (the machine is overloaded); the call is refused`
        : `the policy decision did not finish within its ${this.budgetMs} ms budget; the call is refused`,
    );
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#batch !== undefined || this.#queue.length === 0) return;
    const refusal = this.#refusal();
    if (refusal) {
      const queued = this.#queue;
      this.#queue = [];
      for (const p of queued) p.reject(refusal);
      return;
    }
    const items = this.#queue.length <= MAX_BATCH ? this.#queue : this.#queue.slice(0, MAX_BATCH);
    this.#queue = items === this.#queue ? [] : this.#queue.slice(MAX_BATCH);
    const jsons = items.map((p) => JSON.stringify(p.input));
    let room = 0;
    for (const j of jsons) room += 4 + j.length * 3;
    if (!ensureRoom(this.#channel, room)) {
      const err = new DecisionError(`the decision inputs are larger than ${MAX_BYTES} bytes`);
      for (const p of items) p.reject(err);
      return;
    }
    const { ctl, bytes, view } = this.#channel;
    let offset = 0;
    for (const j of jsons) {
      const { written } = encoder.encodeInto(j, bytes.subarray(offset + 4));
      view.setUint32(offset, written, true);
      offset += 4 + written;
    }
    Atomics.store(ctl, LENGTH, offset);
    Atomics.store(ctl, COUNT, items.length);
    const batch: Batch = { seq: this.#go(true), items, started: performance.now(), timer: undefined };
    this.#batch = batch;
    this.#watchBatch(batch, this.budgetMs);
  };

  /** Checks on a batch each time its current decision could have used up its budget. */
  #watchBatch(batch: Batch, wait: number): void {
    batch.timer = setTimeout(() => {
      if (this.#batch !== batch) return;
      if (Atomics.load(this.#channel.ctl, RESPONSE) === batch.seq) return this.#completeBatch();
      const spent = this.#cpuSpentMs(batch.seq);
      const wall = performance.now() - batch.started;
      if (
        spent === undefined ||
        spent >= this.budgetMs ||
        wall >= BATCH_WAIT_LIMIT_MS + this.budgetMs * batch.items.length
      ) {
        this.#overran(batch.seq);
        this.#failBatch(this.#timeoutError(spent));
        return;
      }
      this.#watchBatch(batch, Math.max(1, this.budgetMs - spent));
    }, wait);
  }

  /** Blocks until the batch at the worker is answered (or given up), so the channel is free. */
  #waitForBatch(): void {
    const batch = this.#batch as Batch;
    const timeout = this.#waitSync(batch.seq, this.#waitLimit + this.budgetMs * batch.items.length);
    if (timeout !== undefined) this.#failBatch(timeout);
    else this.#completeBatch();
  }

  #failBatch(err: DecisionError): void {
    const batch = this.#batch;
    if (batch === undefined) return;
    clearTimeout(batch.timer);
    this.#batch = undefined;
    for (const p of batch.items) p.reject(err);
  }

  #completeBatch(): void {
    const batch = this.#batch as Batch;
    clearTimeout(batch.timer);
    this.#batch = undefined;
    const { ctl, bytes, view } = this.#channel;
    if (Atomics.load(ctl, STATUS) !== STATUS_OK) {
      const err = new DecisionError(decoder.decode(bytes.slice(0, Atomics.load(ctl, LENGTH))));
      for (const p of batch.items) p.reject(err);
    } else {
      let offset = 0;
      for (const p of batch.items) {
        const ok = view.getUint8(offset) === STATUS_OK;
        const len = view.getUint32(offset + 1, true);
        const answer = bytes.subarray(offset + 5, offset + 5 + len);
        offset += 5 + len;
        try {
          if (!ok) throw new DecisionError(decoder.decode(answer.slice()));
          p.resolve(decisionOf(this.#parse(answer)));
        } catch (err) {
          p.reject(err);
        }
      }
    }
    if (this.#queue.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** The single answer in the channel: parsed, or thrown when the worker reported an error. */
  #result(): unknown {
    const { ctl, bytes } = this.#channel;
    const view = bytes.subarray(0, Atomics.load(ctl, LENGTH));
    if (Atomics.load(ctl, STATUS) !== STATUS_OK) throw new DecisionError(decoder.decode(view.slice()));
    return this.#parse(view);
  }

  /** Most calls get one of a few answers: the last few distinct ones are reused, frozen. */
  #parse(view: Uint8Array): unknown {
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

  /**
   * CPU ms the worker has spent on its current input of request `seq` since this was first asked
   * (the first look returns 0 and sets the mark, so an input gets at least one budget of wall-clock
   * time plus one budget of CPU time): 0 before the worker started it, undefined when the OS has no
   * per-thread clock. One clock, the kernel's schedstat, read only when a wait runs out.
   */
  #cpuSpentMs(seq: number): number | undefined {
    const ctl = this.#channel.ctl;
    if (Atomics.load(ctl, STARTED) !== seq) return 0;
    if (this.#schedstat === undefined) return undefined;
    let ns: number;
    try {
      const text = readFileSync(this.#schedstat, 'latin1');
      ns = Number(text.slice(0, text.indexOf(' ')));
    } catch {
      return undefined;
    }
    const item = Atomics.load(ctl, ITEM);
    const mark = this.#cpuMark;
    if (mark === undefined || mark.seq !== seq || mark.item !== item) {
      this.#cpuMark = { seq, item, ns };
      return 0;
    }
    return (ns - mark.ns) / 1e6;
  }

  #faulted(reason: string): void {
    if (this.#fault !== undefined || this.#closed) return;
    this.#fault = reason;
    this.#failBatch(new DecisionError(`this policy revision no longer decides: ${reason}`));
    void this.#worker.terminate();
    this.#onFault?.(reason);
  }
}

/** The decision in an evaluation's result set; an undefined decision is a policy bug, refused rather than guessed. */
function decisionOf(result: unknown): Decision {
  const value = (result as { result?: Decision }[] | undefined)?.[0]?.result;
  if (!value || typeof value.allow !== 'boolean') throw new DecisionError(UNDEFINED_DECISION);
  return value;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
