// The stages every call runs, whatever carries it (an inference request, an MCP message): the
// authenticators, the plugins' reserve and inspect stages, the one decision, the response filters, and
// the end of the call (usage, settlements, the frozen record for audit). pipeline.ts drives them for
// inference over HTTP; src/mcp/gateway.ts for MCP tool listings and calls. See docs/architecture.md.
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { commitJournals } from '../audit/group-commit.ts';
import type { Decision } from '../policy/decision.ts';
import type { Snapshot } from '../policy/snapshot.ts';
import { type Authenticator, type AuthResult, type Credentials, virtualKeys } from './authenticate.ts';
import type { Call } from './call.ts';
import { DecisionBatcher } from './decision-batch.ts';
import { EndingResponse } from './ending-response.ts';
import { authRefusal, POLICY_ERROR } from './errors.ts';
import { chainFilters } from './filters.ts';
import { callRecord } from './outcome.ts';
import type {
  BodyEdit,
  Inspection,
  MaybePromise,
  Plugin,
  Refusal,
  Reserved,
  ResponseFilter,
  Stage,
} from './plugin.ts';
import { usageOf } from './usage.ts';

export interface StagesOptions {
  /** In order: their filters chain in this order, their audits run in this order. */
  plugins: readonly Plugin[];
  /** Tried in order before the virtual-key lookup, which always answers. */
  authenticators?: readonly Authenticator[];
  log: Logger;
}

/** Plugins that implement a stage, found once so a call never asks a plugin that has nothing to say. */
function having<K extends keyof Plugin>(plugins: readonly Plugin[], stage: K): Plugin[] {
  return plugins.filter((p) => p[stage] !== undefined);
}

export class Stages {
  readonly plugins: readonly Plugin[];
  readonly log: Logger;
  readonly #authenticators: readonly Authenticator[];
  readonly #reserve: Plugin[];
  readonly #inspect: Plugin[];
  readonly #rewrite: Plugin[];
  readonly #respond: Plugin[];
  readonly #audit: Plugin[];
  readonly #ending: Plugin[];
  readonly #observe: Plugin[];
  readonly #decisions = new DecisionBatcher();
  /** Calls between `begin` and `finish`. */
  #active = 0;
  // Settle/audit work still running for calls that already ended: a count and who waits for none, not
  // a Set of promises (an entry per call in a long-lived Set got each call's objects promoted).
  #afterCount = 0;
  #afterIdle: (() => void)[] = [];

  constructor(opts: StagesOptions) {
    this.plugins = opts.plugins;
    this.log = opts.log;
    this.#authenticators = [...(opts.authenticators ?? []), virtualKeys];
    this.#reserve = having(opts.plugins, 'reserve');
    this.#inspect = having(opts.plugins, 'inspect');
    this.#rewrite = having(opts.plugins, 'rewrite');
    this.#respond = having(opts.plugins, 'respond');
    this.#audit = having(opts.plugins, 'audit');
    this.#ending = having(opts.plugins, 'ending');
    this.#observe = having(opts.plugins, 'observe');
  }

  /** Calls in flight (begun, not finished). */
  readonly inFlight = (): number => this.#active;

  /** A call starts: it is in flight until `finish`. */
  /** Tells the `ending` plugins, once, just before the response's last bytes are written. */
  beforeEnd(call: Call, res: ServerResponse): void {
    if (this.#ending.length === 0) return;
    if (res instanceof EndingResponse) {
      res.armEnding(call, this);
      return;
    }
    // A response our servers did not make (Fastify's inject, a server factory without EndingResponse):
    // wrap its end. Only such responses pay the per-response closure ending-response.ts avoids.
    const end = res.end;
    const stages = this;
    res.end = function (this: ServerResponse, ...args: unknown[]) {
      res.end = end;
      stages.ending(call);
      return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['end'];
  }

  /** The `ending` plugins, for a call whose response is about to end. */
  ending(call: Call): void {
    // Calls refused before their facts were built have no record.
    if (call.input === undefined) return;
    call.timings.end = call.elapsed();
    for (const p of this.#ending) {
      try {
        p.ending!(call);
      } catch (err) {
        this.log.error({ reqId: call.id, plugin: p.name, err: (err as Error).message }, 'ending failed');
      }
    }
    // A call alone has no one to share the journal's group write with: it writes now, and its
    // response ends without waiting for the end of the turn.
    if (this.#active <= 1) commitJournals();
  }

  begin(): void {
    this.#active++;
  }

  /** Resolves once the settle/audit work of every call that ended so far has run (for shutdown). */
  async drain(): Promise<void> {
    while (this.#afterCount > 0) await new Promise<void>((resolve) => this.#afterIdle.push(resolve));
  }

  readonly #afterDone = (): void => {
    if (--this.#afterCount > 0) return;
    const idle = this.#afterIdle;
    this.#afterIdle = [];
    for (const resolve of idle) resolve();
  };

  authenticate(
    snapshot: Snapshot,
    credentials: Credentials,
    nowMs: number,
  ): AuthResult | Promise<AuthResult> {
    const list = this.#authenticators;
    for (let i = 0; i < list.length; i++) {
      const r = list[i](snapshot, credentials, nowMs);
      if (r instanceof Promise) return this.#authenticateFrom(r, i, snapshot, credentials, nowMs);
      if (r !== undefined) return r;
    }
    return { status: 'missing', key: null };
  }

  async #authenticateFrom(
    pending: Promise<AuthResult | undefined>,
    at: number,
    snapshot: Snapshot,
    credentials: Credentials,
    nowMs: number,
  ): Promise<AuthResult> {
    const r = await pending;
    if (r !== undefined) return r;
    const list = this.#authenticators;
    for (let i = at + 1; i < list.length; i++) {
      const next = await list[i](snapshot, credentials, nowMs);
      if (next !== undefined) return next;
    }
    return { status: 'missing', key: null };
  }

  /**
   * Reserve (for an authenticated key), inspect (unless a plugin refused), decide: the call's decision,
   * also set on `call.decision`. `badAuth`: the credential was refused, so no policy answer admits it.
   * Synchronous while every plugin answers synchronously and the call is alone.
   */
  admit(call: Call, badAuth: AuthResult | undefined): MaybePromise<Decision> {
    if (call.auth.status !== 'ok' || this.#reserve.length === 0)
      return this.#afterReserve(call, undefined, badAuth);
    const refusal = this.#reserveStage(call);
    if (refusal instanceof Promise) return refusal.then((r) => this.#afterReserve(call, r, badAuth));
    return this.#afterReserve(call, refusal, badAuth);
  }

  #afterReserve(
    call: Call,
    refusal: Refusal | undefined,
    badAuth: AuthResult | undefined,
  ): MaybePromise<Decision> {
    if (this.#reserve.length > 0 && call.auth.status === 'ok') this.observed(call, 'reserve');
    if (refusal === undefined && this.#inspect.length > 0) {
      const inspected = this.#inspectStage(call);
      if (inspected instanceof Promise) {
        return inspected.then((r) => {
          this.observed(call, 'inspect');
          return this.#decided(call, this.#decide(call, r, badAuth));
        });
      }
      this.observed(call, 'inspect');
      refusal = inspected;
    }
    return this.#decided(call, this.#decide(call, refusal, badAuth));
  }

  #decided(call: Call, decision: MaybePromise<Decision>): MaybePromise<Decision> {
    if (decision instanceof Promise) return decision.then((d) => this.#decided(call, d));
    call.decision = decision;
    call.timings.decided = call.elapsed();
    this.observed(call, 'decide');
    return decision;
  }

  /**
   * The rewrite stage's plugins from `from`, in order, each on the body as edited so far. Synchronous
   * while they answer synchronously.
   */
  rewrite(call: Call, decision: Decision, from = 0): MaybePromise<void> {
    const plugins = this.#rewrite;
    for (let i = from; i < plugins.length; i++) {
      const edit = plugins[i].rewrite!(call, decision);
      if (edit instanceof Promise) {
        return edit.then((e) => {
          applyEdit(call, e);
          return this.rewrite(call, decision, i + 1);
        });
      }
      applyEdit(call, edit);
    }
  }

  get rewrites(): boolean {
    return this.#rewrite.length > 0;
  }

  #reserveStage(call: Call): MaybePromise<Refusal | undefined> {
    return this.#runStage(call, this.#reserve, 'reserve', this.#applyReserved, 0);
  }

  #inspectStage(call: Call): MaybePromise<Refusal | undefined> {
    return this.#runStage(call, this.#inspect, 'inspect', this.#applyInspection, 0);
  }

  /**
   * Runs a pre-decision stage's plugins from `from`, applying each result; the first refusal ends it.
   * Synchronous while the plugins answer synchronously (no turn spent per call).
   */
  #runStage<R extends Reserved | Inspection>(
    call: Call,
    plugins: readonly Plugin[],
    stage: 'reserve' | 'inspect',
    apply: (call: Call, result: R | undefined) => Refusal | undefined,
    from: number,
  ): MaybePromise<Refusal | undefined> {
    for (let i = from; i < plugins.length; i++) {
      let r: MaybePromise<R | undefined>;
      try {
        r = (plugins[i][stage] as (call: Call) => MaybePromise<R | undefined>)(call);
      } catch (err) {
        return this.#pluginFailed(call, plugins[i], stage, err);
      }
      if (r instanceof Promise) {
        return r.then(
          (res) => apply(call, res) ?? this.#runStage(call, plugins, stage, apply, i + 1),
          (err: unknown) => this.#pluginFailed(call, plugins[i], stage, err),
        );
      }
      const refusal = apply(call, r);
      if (refusal !== undefined) return refusal;
    }
    return undefined;
  }

  readonly #applyReserved = (call: Call, r: Reserved | undefined): Refusal | undefined => {
    if (r === undefined) return undefined;
    if (r.reservation !== undefined) call.reservations.push(r.reservation);
    if (r.usage !== undefined) {
      const usage = call.input.usage;
      usage.budgets.push(...r.usage.budgets);
      usage.rateLimits.push(...r.usage.rateLimits);
    }
    if (r.headers !== undefined) Object.assign(call.responseHeaders, r.headers);
    return r.refusal;
  };

  readonly #applyInspection = (call: Call, r: Inspection | undefined): Refusal | undefined => {
    if (r === undefined) return undefined;
    if (r.findings !== undefined) call.findings.push(...r.findings);
    if (r.scan !== undefined) call.scan = r.scan;
    return r.refusal;
  };

  /** A plugin that throws before the decision refuses the call: what it was to check went unchecked. */
  #pluginFailed(call: Call, plugin: Plugin, stage: Stage, err: unknown): Refusal {
    this.log.error({ reqId: call.id, plugin: plugin.name, err: (err as Error).message }, `${stage} failed`);
    return { decision: POLICY_ERROR };
  }

  /**
   * The one place a call's decision is made: a plugin's refusal stands (worded by the policy when it
   * asks for that and the policy denies); otherwise the policy decides; a key that did not
   * authenticate is refused whatever the policy says.
   */
  #decide(call: Call, refusal: Refusal | undefined, badAuth: AuthResult | undefined): MaybePromise<Decision> {
    if (refusal !== undefined) {
      if (refusal.policyWords !== true) return refusal.decision;
      const worded = this.#evaluate(call);
      return worded === undefined || worded.allow ? refusal.decision : worded;
    }
    // Alone, a call is decided at once; with others in flight, with those of this turn.
    if (this.#active > 1) {
      return this.#decisions.decide(call.snapshot, call.input).then(
        (d) => authChecked(d, badAuth),
        (err: unknown) => this.#policyFailed(call, err),
      );
    }
    const decision = this.#evaluate(call);
    return decision === undefined ? POLICY_ERROR : authChecked(decision, badAuth);
  }

  /** The policy's decision, or undefined (logged) when it cannot be evaluated. */
  #evaluate(call: Call): Decision | undefined {
    try {
      return call.snapshot.evaluate(call.input);
    } catch (err) {
      this.#policyFailed(call, err);
      return undefined;
    }
  }

  #policyFailed(call: Call, err: unknown): Decision {
    this.log.error({ reqId: call.id, err: (err as Error).message }, 'policy evaluation failed');
    return POLICY_ERROR;
  }

  /** The respond stage: the plugins' response filters for this call, chained. */
  filters(call: Call): ResponseFilter | undefined {
    const plugins = this.#respond;
    if (plugins.length === 0) return undefined;
    const filters: ResponseFilter[] = [];
    for (const plugin of plugins) {
      const f = plugin.respond!(call);
      if (f !== undefined) filters.push(f);
    }
    return chainFilters(filters);
  }

  /** Reports a stage boundary to the observing plugins (nothing to do without any). */
  observed(call: Call, stage: Stage): void {
    const observers = this.#observe;
    if (observers.length === 0) return;
    const event = { stage, at: call.elapsed() };
    for (const p of observers) {
      try {
        p.observe!(call, event);
      } catch (err) {
        this.log.error({ reqId: call.id, plugin: p.name, err: (err as Error).message }, 'observe failed');
      }
    }
  }

  /** The response is over (sent, failed or abandoned by the client). */
  finish(call: Call, statusCode: number): void {
    this.#active--;
    if (call.status === 0) call.status = statusCode;
    if (call.outcome === 'forwarded' || call.upstreamError !== null) call.usage = usageOf(call);
    if (this.log.isLevelEnabled('info')) {
      this.log.info(
        {
          reqId: call.id,
          surface: call.surface,
          model: call.input?.model,
          key: call.key?.id,
          status: call.status,
          outcome: call.outcome,
          code: call.decision?.code,
          aborted: call.aborted || undefined,
          ms: Math.round(call.timings.end * 1000) / 1000,
        },
        'call',
      );
    }
    // Calls refused before their facts were known (no snapshot, unreadable body) reserved nothing.
    if (call.input === undefined) return;
    if (call.reservations.length === 0 && this.#audit.length === 0) return;
    this.#afterCount++;
    void this.#settleAndAudit(call).finally(this.#afterDone);
  }

  async #settleAndAudit(call: Call): Promise<void> {
    for (const r of call.reservations) {
      const settled = await r.settle(call);
      if (settled !== undefined) call.settlements.push(settled);
    }
    this.observed(call, 'settle');
    if (this.#audit.length === 0) return;
    const record = callRecord(call);
    for (const plugin of this.#audit) {
      try {
        await plugin.audit!(record, call);
      } catch (err) {
        this.log.error({ reqId: call.id, plugin: plugin.name, err: (err as Error).message }, 'audit failed');
      }
    }
    this.observed(call, 'audit');
  }
}

function applyEdit(call: Call, edit: BodyEdit | undefined): void {
  if (edit === undefined) return;
  call.body = edit.body;
  call.bodyChanged = true;
}

/** A key that did not authenticate is refused whatever the policy says. */
function authChecked(decision: Decision, badAuth: AuthResult | undefined): Decision {
  if (decision.allow && badAuth !== undefined && badAuth.status !== 'ok') return authRefusal(badAuth.status);
  return decision;
}
