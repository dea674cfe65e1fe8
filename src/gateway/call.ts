// One call as it moves through the pipeline: facts that never change once the facts stage set them,
// and one typed slot per thing a stage produces. Only the pipeline writes the slots (from what the
// plugins return); the forwarder writes the response state; plugins read.
import { recordTime } from '../audit/record.ts';
import type { Decision, DecisionInput, GuardrailFinding, Surface } from '../policy/decision.ts';
import type { ModelPrice, ProviderApi, ResolvedKey, ResolvedProvider, Snapshot } from '../policy/snapshot.ts';
import type { RouteRun } from '../providers/routing/run.ts';
import type { ProviderAdapter, StreamTracker, TokenUsage } from '../providers/types.ts';
import type { DeniedToolCall, ToolDeclarations } from '../tools/index.ts';
import type { AuthResult } from './authenticate.ts';
import type { RequestScan, Reservation, Settlement } from './plugin.ts';
import type { UsageEvent } from './usage.ts';

/**
 * Where the call ended: refused by the decision, forwarded, answered by the gateway, blocked by a
 * guardrail after the decision allowed it (an MCP tool's arguments or result), or failed.
 */
export type Outcome = 'pending' | 'denied' | 'forwarded' | 'answered' | 'blocked' | 'error';

/** Milliseconds since the call started (performance.now() based); 0 = not reached. */
export interface Timings {
  decided: number;
  forwarded: number;
  upstreamHeaders: number;
  firstByte: number;
  end: number;
}

/** The provider a call goes to and the price entry its usage is billed by. */
export interface Route {
  provider: ResolvedProvider;
  price: ModelPrice | undefined;
  /** Set when a policy Route serves the call: its plan, the attempts made and the model used. */
  routing?: RouteRun;
}

export class Call {
  readonly id: string;
  /** The snapshot this call started with; it keeps it to the end. */
  readonly snapshot: Snapshot;
  readonly surface: Surface;
  /** The API the caller speaks: an inference wire format, or MCP (JSON-RPC). */
  readonly api: ProviderApi | 'mcp';
  /** The caller's wire format; null for MCP calls. */
  readonly format: ProviderAdapter | null;
  /** Epoch ms at arrival. */
  readonly startedAt: number;
  /** performance.now() at arrival. */
  readonly t0: number;
  readonly timings: Timings = { decided: 0, forwarded: 0, upstreamHeaders: 0, firstByte: 0, end: 0 };
  #startedIso: string | undefined = undefined;

  // ── facts (set once by the authenticate and facts stages) ──
  auth: AuthResult = { status: 'missing', key: null };
  /** The request body as received; forwarded as-is unless the rewrite stage replaced `body`. */
  rawBody: Buffer | null = null;
  /** The parsed body; the rewrite stage replaces it (and sets `bodyChanged`). */
  body: Record<string, unknown> | null = null;
  bodyChanged = false;
  /** What the policy reads. Undefined only for calls refused before their facts (no snapshot, bad body). */
  input!: DecisionInput;
  /** The output ceiling policy sets for this key and model (Team/VirtualKey outputCaps), if any. */
  outputCap: number | undefined = undefined;

  // ── slots (one writer: the pipeline, from plugin results) ──
  /** Every guardrail finding, request ones first (`input.guardrails.findings` is the same array). */
  readonly findings: GuardrailFinding[] = [];
  /** What the request scan found with offsets, for redaction and content capture. */
  scan: RequestScan | null = null;
  /** Budget/rate reservations to settle once usage is known. */
  readonly reservations: Reservation[] = [];
  /** What settling them found (budget overshoot, alerts), for the audit record. */
  readonly settlements: Settlement[] = [];
  decision: Decision | null = null;
  /** Declared tools removed from the request by the decision. */
  strippedTools: readonly string[] = [];
  /** The tools the request declared (before stripping): what a denied call is checked against. */
  toolDeclarations: ToolDeclarations | null = null;
  /** Set by the route stage (the model's provider, or a routing plugin's); the decision may move it. */
  route: Route | null = null;
  /** Upstream path with the base URL's prefix and the query string, set before forwarding. */
  upstreamPath = '';
  /** Tool calls the model made that the key may not use (the response was refused). */
  readonly deniedCalls: DeniedToolCall[] = [];
  usage: UsageEvent | null = null;
  /** Headers a plugin adds to an allowed, forwarded response (e.g. remaining budget). */
  readonly responseHeaders: Record<string, string> = {};
  /** Headers a plugin sends upstream in place of the caller's (the trace context); see `setUpstreamHeader`. */
  readonly upstreamHeaders: Record<string, string> = {};
  /** The caller's W3C trace context headers, as received (tracing reads them). */
  traceContext: { traceparent?: string | string[]; tracestate?: string | string[] } = {};

  // ── response state (written by the forwarder and response filters) ──
  outcome: Outcome = 'pending';
  /** Status sent to the client. */
  status = 0;
  /** Status the upstream answered with; differs from `status` when a response filter replaced the answer. */
  upstreamStatus = 0;
  /** Upstream failed or timed out (for 502/504 or a stream cut off), or a response check failed. */
  upstreamError: string | null = null;
  aborted = false;
  /** The upstream call in flight, cancelled when the client goes away or a filter ends the stream. */
  upstream: { cancel(): void } | null = null;
  /** The gateway added `stream_options.include_usage` and hides the usage chunk. */
  hideUsageChunk = false;
  tracker: StreamTracker | null = null;
  /** The last bytes of a non-streamed response, where its usage object is. */
  tail: string | null = null;
  /** The non-streamed answer as the upstream sent it, when a response filter parsed it whole. */
  upstreamJson: unknown = undefined;
  /** The answer as text, where the gateway handles it whole (an MCP tool result), for content logging. */
  answerText: string | null = null;
  /** Usage read from an answer in another wire format before it was converted for the client. */
  upstreamUsage: TokenUsage | null = null;

  constructor(
    id: string,
    snapshot: Snapshot,
    surface: Surface,
    api: ProviderApi | 'mcp',
    format: ProviderAdapter | null,
  ) {
    this.id = id;
    this.snapshot = snapshot;
    this.surface = surface;
    this.api = api;
    this.format = format;
    this.startedAt = Date.now();
    this.t0 = performance.now();
  }

  get key(): ResolvedKey | null {
    return this.auth.key;
  }

  /** `startedAt` in ISO-8601, as records and usage events carry it: formatted once per call. */
  get startedIso(): string {
    this.#startedIso ??= recordTime(this.startedAt);
    return this.#startedIso;
  }

  /** A response filter's finding (response stage); recorded for audit, never read by the decision. */
  reportFinding(finding: GuardrailFinding): void {
    this.findings.push(finding);
  }

  /** A response filter refused the answer because the model called a tool the key may not use. */
  /** A header for the upstream request (lower-case name); it replaces the caller's. */
  setUpstreamHeader(name: string, value: string): void {
    this.upstreamHeaders[name] = value;
  }

  reportDeniedCall(call: DeniedToolCall): void {
    this.deniedCalls.push(call);
  }

  /**
   * Milliseconds since the call arrived, to the microsecond: finer digits say nothing and would make
   * every audit record longer to write and to read. Never 0, which timings use for "not yet".
   */
  elapsed(): number {
    return Math.round((performance.now() - this.t0) * 1000) / 1000 || 0.001;
  }
}
