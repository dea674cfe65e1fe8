// The per-request context every pipeline stage reads and fills, and the hooks the other parts of the
// gateway (limits, guardrails, audit) plug into.
import type { Decision, DecisionInput, Surface } from '../policy/decision.ts';
import type { ModelPrice, ProviderApi, ResolvedKey, ResolvedProvider, Snapshot } from '../policy/snapshot.ts';
import type { ProviderAdapter, StreamTracker } from '../providers/types.ts';
import type { ResponseFilter } from './forward.ts';
import type { UsageEvent } from './usage-events.ts';

export type Outcome = 'pending' | 'denied' | 'forwarded' | 'answered' | 'error';

/** Milliseconds since the request started (performance.now() based); 0 = not reached. */
export interface Timings {
  decided: number;
  forwarded: number;
  upstreamHeaders: number;
  firstByte: number;
  end: number;
}

export class RequestContext {
  readonly id: string;
  /** The snapshot this request started with; it keeps it to the end. */
  readonly snapshot: Snapshot;
  readonly surface: Surface;
  readonly api: ProviderApi;
  readonly adapter: ProviderAdapter;
  /** Epoch ms at arrival. */
  readonly startedAt: number;
  /** performance.now() at arrival. */
  readonly t0: number;
  readonly timings: Timings = { decided: 0, forwarded: 0, upstreamHeaders: 0, firstByte: 0, end: 0 };

  key: ResolvedKey | null = null;
  /** The request body as received; forwarded as-is unless `bodyChanged`. */
  rawBody: Buffer | null = null;
  /** The parsed body; stages that rewrite it set `bodyChanged`. */
  body: Record<string, unknown> | null = null;
  bodyChanged = false;
  /**
   * Filled progressively: facts, then `usage` by limits, `guardrails` by request guardrails. Set before
   * any hook runs; undefined only for calls refused before (no snapshot yet, unreadable body).
   */
  input!: DecisionInput;
  decision: Decision | null = null;
  provider: ResolvedProvider | undefined = undefined;
  price: ModelPrice | undefined = undefined;
  /** Upstream path (with the base URL's prefix) and query string, set before forwarding. */
  upstreamPath = '';
  /** The gateway added `stream_options.include_usage` and hides the usage chunk. */
  hideUsageChunk = false;

  outcome: Outcome = 'pending';
  /** Status sent to the client. */
  status = 0;
  /** Status the upstream answered with; differs from `status` when a response guard replaced the answer. */
  upstreamStatus = 0;
  /** Upstream failed or timed out (for 502/504 or a stream cut off). */
  upstreamError: string | null = null;
  aborted = false;
  /** The upstream call in flight, cancelled when the client goes away. */
  upstream: { cancel(): void } | null = null;
  tracker: StreamTracker | null = null;
  /** The last bytes of a non-streamed response, where its usage object is. */
  tail: string | null = null;
  /** The non-streamed answer as the upstream sent it, when a response filter parsed it whole (usage is read from it). */
  upstreamJson: unknown = undefined;
  usage: UsageEvent | null = null;
  /** Headers a hook adds to an allowed, forwarded response (e.g. remaining budget); upstream's never override them. */
  readonly responseHeaders: Record<string, string> = {};
  /** Free slots for hooks (reservation ids, scanners…), keyed by the hook's own name. */
  readonly locals: Record<string, unknown> = {};

  constructor(id: string, snapshot: Snapshot, surface: Surface, api: ProviderApi, adapter: ProviderAdapter) {
    this.id = id;
    this.snapshot = snapshot;
    this.surface = surface;
    this.api = api;
    this.adapter = adapter;
    this.startedAt = Date.now();
    this.t0 = performance.now();
  }

  /**
   * Milliseconds since the call arrived, to the microsecond: finer digits say nothing and would make
   * every audit record longer to write and to read. Never 0, which timings use for "not yet".
   */
  elapsed(): number {
    return Math.round((performance.now() - this.t0) * 1000) / 1000 || 0.001;
  }
}

type MaybePromise = void | Promise<void>;

/**
 * The seams of the request pipeline, called in this order:
 * authenticate → reserve → requestGuardrails → decide → beforeForward → forward →
 * responseGuardrails → (usage) → settle → audit.
 * Every hook is optional. A hook that wants to refuse the call before the decision sets
 * `ctx.decision` to a denial (e.g. the counter store is down and the gateway fails closed).
 */
export interface PipelineHooks {
  /** Limits: reserve worst-case cost/tokens and fill `ctx.input.usage`. */
  reserve?(ctx: RequestContext): MaybePromise;
  /** Guardrails: scan the request, fill `ctx.input.guardrails`; may rewrite `ctx.body` (set `bodyChanged`). */
  requestGuardrails?(ctx: RequestContext): MaybePromise;
  /** After an allow, before forwarding: apply `ctx.decision.redact` to `ctx.body`. */
  beforeForward?(ctx: RequestContext): MaybePromise;
  /** What to do to the answer on its way to the client (after usage accounting), or undefined. */
  responseGuardrails?(ctx: RequestContext): ResponseFilter | undefined;
  /**
   * The call is over (`ctx.outcome`, `ctx.usage` when forwarded): settle or release reservations.
   * Called for every call whose facts were built (so `ctx.input` is set), denied ones included.
   */
  settle?(ctx: RequestContext): MaybePromise;
  /** Record the call. Runs after settle. */
  audit?(ctx: RequestContext): MaybePromise;
}
