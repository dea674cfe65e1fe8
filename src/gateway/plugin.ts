// The contract between the pipeline and the concerns plugged into it (limits, guardrails, tool scopes,
// content capture, audit, metrics, tracing…). A plugin reads the call and returns what it found or
// wants; it never writes the decision or the call's slots. The pipeline runs the stages in order:
//
//   authenticate → facts → reserve → inspect → decide → rewrite → route → forward → respond
//   → settle → audit
//
// and alone decides (policy + the refusals plugins returned) and applies (body edits, filters,
// settlements). See docs/architecture.md.
import type { Decision, DecisionInput, GuardrailFinding } from '../policy/decision.ts';
import type { Call } from './call.ts';
import type { CallRecord } from './outcome.ts';

export type MaybePromise<T> = T | Promise<T>;

/**
 * A plugin's refusal. `policyWords`: the pipeline first asks the policy (with the facts the plugin
 * returned) and uses its denial when it denies, so a platform team words the refusal in Rego; the
 * call is refused either way. Without it the refusal stands without evaluating the policy (the
 * counter store is down and the gateway fails closed).
 */
export interface Refusal {
  decision: Decision;
  policyWords?: boolean;
}

/** Something held against a limit until the call is over: settled to what it used, or released. */
export interface Reservation {
  /** `call.usage` is null when nothing was forwarded (release); never throws. */
  settle(call: Call): Promise<Settlement | undefined>;
}

/** What settling found that the audit record keeps: how the budgets took the call. */
export interface Settlement {
  budget?: BudgetSettlement;
}

export interface BudgetSettlement {
  /** What the call held against its budgets before the answer (its worst or expected cost), USD. */
  reservedUsd: number;
  /** How far the call took an expected-mode budget past its amount, USD (absent when it did not). */
  overshootUsd?: number;
  /** Thresholds this call's spend reached, alerted once per period across replicas. */
  alerts?: { budget: string; thresholdPct: number }[];
}

/** The reserve stage's result: usage facts for the policy, a reservation, response headers, or a refusal. */
export interface Reserved {
  usage?: DecisionInput['usage'];
  reservation?: Reservation;
  /** Sent with an allowed, forwarded response. */
  headers?: Record<string, string>;
  refusal?: Refusal;
}

/** What a request scan found, with offsets: the body they refer to, for redaction and content capture. */
export interface RequestScan {
  /** Findings with the scanner's own extra fields (offsets), as the guardrail library returns them. */
  findings: readonly (GuardrailFinding & { start?: number; end?: number })[];
  /** The body the offsets refer to (the request as received). */
  body: Record<string, unknown>;
}

/** The inspect stage's result: findings for the policy, the scan for later stages, or a refusal. */
export interface Inspection {
  findings?: GuardrailFinding[];
  scan?: RequestScan;
  refusal?: Refusal;
}

/** A body edit from the rewrite stage: the new body (never the old one mutated). */
export interface BodyEdit {
  body: Record<string, unknown>;
}

/**
 * Where a streamed answer's bytes go next: the next filter, or (last) the client. Writes made in one
 * event-loop turn leave in one socket write.
 */
export interface StreamSink {
  write(data: string | Uint8Array): void;
  /**
   * Asks for what was written so far to leave now rather than with the rest of this turn's writes (the
   * first bytes of an answer). The client end does so only while no other call is in flight: under
   * load a socket write per event costs more than the few microseconds it saves one client.
   */
  flush(): void;
  /** The stream is over; `data` is its last bytes. Writes after the end are ignored. */
  end(data?: string | Uint8Array): void;
  /** A check failed, so the stream cannot be finished honestly: the client's connection is cut. */
  fail(err: unknown): void;
  /**
   * Answers with an HTTP error instead (`status`, `body` as JSON) when nothing of the stream has been
   * sent yet, head included; false when it is too late and the stream must end with its error event.
   */
  refuse?(status: number, body: unknown): boolean;
}

/**
 * What a plugin does to the answer on its way to the client. A non-streamed answer is held whole when
 * any filter has `held` (so it can be checked and replaced, status included, before its head goes
 * out), and only filters with `held` see it; otherwise the bytes pass through the sinks `stream`
 * returns. Filters run in plugin order: each sees what the one before it let through.
 */
export interface ResponseFilter {
  /** The whole non-streamed body (any status): the bytes to send instead. May set `call.status`. */
  held?(body: Buffer): Buffer | Promise<Buffer>;
  /**
   * Called once the head is known, for bytes that are not held: the sink they are written to, which
   * passes what it lets through on to `next`; undefined to leave them alone.
   */
  stream?(next: StreamSink): StreamSink | undefined;
}

/** A stage boundary, for metrics and tracing plugins (only emitted when some plugin has `observe`). */
export interface StageEvent {
  stage: Stage;
  /** Milliseconds since the call started, at the end of the stage. */
  at: number;
}

export type Stage =
  | 'authenticate'
  | 'facts'
  | 'reserve'
  | 'inspect'
  | 'decide'
  | 'rewrite'
  | 'route'
  | 'forward'
  | 'settle'
  | 'audit';

export interface Plugin {
  /** Shown in logs when a plugin throws. */
  readonly name: string;
  /** Count the call against limits before the decision. Skipped for calls without a valid key. */
  reserve?(call: Call): MaybePromise<Reserved | undefined>;
  /** Look at the request before the decision (guardrail scan). Skipped once a plugin refused. */
  inspect?(call: Call): MaybePromise<Inspection | undefined>;
  /** After an allowing decision: a new body (redactions, translation). Runs on `call.body` as edited so far. */
  rewrite?(call: Call, decision: Decision): MaybePromise<BodyEdit | undefined>;
  /** A filter for the answer (guardrails, tool scopes, content capture), or undefined. */
  respond?(call: Call): ResponseFilter | undefined;
  /**
   * The response's last bytes are about to be written (called just before `end`), for what must be
   * durable before the client has its answer (the audit journal). Synchronous; calls whose facts
   * were never built are not reported. `call.timings.end` is set by then: the call's latency ends here.
   */
  ending?(call: Call): void;
  /** The call is over and its usage known; the frozen record, in plugin order, after every settlement. */
  audit?(record: CallRecord, call: Call): MaybePromise<void>;
  /** Stage boundaries as they pass (metrics, tracing). Synchronous and cheap. */
  observe?(call: Call, event: StageEvent): void;
}
