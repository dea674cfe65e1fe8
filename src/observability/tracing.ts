// OpenTelemetry traces of calls, exported over OTLP/HTTP (protobuf) with the official SDK.
//
// One SERVER span per call, named `chat <model>` with the GenAI semantic conventions (`gen_ai.*`)
// and Portcullis's own attributes (`portcullis.*`: decision, reasons, revision, findings by rule and
// action — never a key, a matched secret or content), and one CLIENT span for the upstream request,
// whose context goes upstream as `traceparent`, so a provider that traces joins the caller's trace.
// The caller's own `traceparent`/`tracestate` is the parent; sampling follows the caller's decision
// when there is one, else `sampleRatio`. Spans are built when the call ends, from the record, with
// their real start and end times.

import { randomFillSync } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type Attributes,
  type HrTime,
  ROOT_CONTEXT,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
} from '@opentelemetry/api';
import { parseTraceParent, TraceState } from '@opentelemetry/core';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type Sampler,
  SamplingDecision,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { ObservedExtras, ObservedRecord } from './call-metrics.ts';
import { OtlpSpanExporter } from './otlp-spans.ts';

export interface TracingOptions {
  /** OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces */
  url?: string;
  headers?: Record<string, string>;
  /** Share of root calls traced (callers that send a sampled `traceparent` are always followed). */
  sampleRatio?: number;
  serviceName?: string;
  /** Replaces the OTLP exporter (tests, other backends). */
  exporter?: SpanExporter;
}

export interface TraceExtras extends ObservedExtras {
  /** The model the provider said answered, when it differs from the requested one or is known. */
  responseModel?: string;
  finishReasons?: readonly string[];
}

/** The W3C trace context headers of an incoming request. */
export interface IncomingTraceContext {
  traceparent?: string | string[];
  tracestate?: string | string[];
}

const SCOPE = { name: 'portcullis.gateway', version: '1' };

/** `gen_ai.system` / `gen_ai.provider.name` by wire format. */
function genAiSystem(surface: string): string {
  if (surface.startsWith('anthropic')) return 'anthropic';
  if (surface.startsWith('gemini')) return 'gcp.gemini';
  if (surface.startsWith('openai')) return 'openai';
  return surface.split('.')[0] ?? 'unknown';
}

/** `portcullis.stage.<name>_ms`, made once per stage name (stages are the pipeline's fixed few). */
const stageKeys = new Map<string, string>();
function stageKey(name: string): string {
  let key = stageKeys.get(name);
  if (key === undefined) {
    key = `portcullis.stage.${name}_ms`;
    if (stageKeys.size < 64) stageKeys.set(name, key);
  }
  return key;
}

/**
 * Random trace and span ids in hex, cut from one buffer of random bytes turned into hex at once
 * (an id each from the SDK's generator costs a hex conversion per id).
 */
class IdPool {
  private hex = '';
  private pos = 0;
  private readonly bytes = Buffer.alloc(4096);

  /** `chars` hex digits (16 for a span id, 32 for a trace id), never all zeros. */
  next(chars: number): string {
    for (;;) {
      if (this.pos + chars > this.hex.length) {
        this.hex = randomFillSync(this.bytes).toString('hex');
        this.pos = 0;
      }
      const id = this.hex.slice(this.pos, this.pos + chars);
      this.pos += chars;
      if (!ALL_ZEROS.test(id)) return id;
    }
  }
}
const ALL_ZEROS = /^0+$/;

/** The caller's span context from its `traceparent` (and `tracestate`), as the W3C propagator reads them. */
function remoteParent(incoming: IncomingTraceContext): SpanContext | undefined {
  const header = Array.isArray(incoming.traceparent) ? incoming.traceparent[0] : incoming.traceparent;
  if (typeof header !== 'string') return undefined;
  const parsed = parseTraceParent(header);
  if (parsed === null) return undefined;
  const state = incoming.tracestate;
  const stateText = Array.isArray(state) ? state.join(',') : state;
  return { ...parsed, isRemote: true, traceState: stateText ? new TraceState(stateText) : undefined };
}

const hrTime = (ms: number): HrTime => {
  const s = Math.floor(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
};

/**
 * Spans are finished objects handed to the SDK's batch processor and OTLP exporter when the call
 * ends: the call's times and attributes are all known then, and building them directly costs a third
 * of what the SDK's live Span objects do (attribute checks per set, context objects) — tracing at
 * 100 % has to stay within a few per cent of the gateway's own CPU per call.
 */
export class CallTracer {
  private readonly processor: BatchSpanProcessor;
  private readonly rootSampler: Sampler;
  private readonly ids = new IdPool();
  readonly resource: Resource;

  constructor(opts: TracingOptions) {
    const exporter =
      opts.exporter ?? new OtlpSpanExporter({ url: opts.url, headers: opts.headers, timeoutMillis: 10_000 });
    const ratio = Math.min(1, Math.max(0, opts.sampleRatio ?? 1));
    this.rootSampler = new TraceIdRatioBasedSampler(ratio);
    this.resource = resourceFromAttributes({
      [ATTR_SERVICE_NAME]: opts.serviceName ?? 'portcullis',
      [ATTR_SERVICE_VERSION]: '0.1.0',
      'host.name': hostname(),
    });
    this.processor = new BatchSpanProcessor(exporter, { maxQueueSize: 8192, scheduledDelayMillis: 1000 });
  }

  /** Starts a call's trace at its arrival time, under the caller's trace context when it sent one. */
  start(startedAtMs: number, incoming: IncomingTraceContext, surface: string): CallTrace {
    const parent = incoming.traceparent ? remoteParent(incoming) : undefined;
    // Parent-based sampling, as the SDK's ParentBasedSampler with its defaults: a caller's decision
    // is followed; a root call is sampled by its trace id at the configured ratio.
    let sampled: boolean;
    let traceId: string;
    if (parent !== undefined) {
      traceId = parent.traceId;
      sampled = (parent.traceFlags & TraceFlags.SAMPLED) !== 0;
    } else {
      traceId = this.ids.next(32);
      sampled =
        this.rootSampler.shouldSample(ROOT_CONTEXT, traceId, 'chat', SpanKind.SERVER, {}, []).decision ===
        SamplingDecision.RECORD_AND_SAMPLED;
    }
    const context: SpanContext = {
      traceId,
      spanId: this.ids.next(16),
      traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
      traceState: parent?.traceState,
    };
    return new CallTrace(this, context, parent, startedAtMs, genAiSystem(surface));
  }

  /** A new span id. */
  spanId(): string {
    return this.ids.next(16);
  }

  /** Queues finished spans for export. */
  emit(span: ReadableSpan): void {
    this.processor.onEnd(span);
  }

  /** Sends what is buffered. */
  flush(): Promise<void> {
    return this.processor.forceFlush();
  }

  close(): Promise<void> {
    return this.processor.shutdown();
  }
}

export class CallTrace {
  private readonly tracer: CallTracer;
  private readonly context: SpanContext;
  private readonly parent: SpanContext | undefined;
  private readonly startedAtMs: number;
  private readonly system: string;
  private readonly stageNames: string[] = [];
  private readonly stageTimes: number[] = [];
  private upstream: { spanId: string; atMs: number; provider: string } | undefined;

  constructor(
    tracer: CallTracer,
    context: SpanContext,
    parent: SpanContext | undefined,
    startedAtMs: number,
    system: string,
  ) {
    this.tracer = tracer;
    this.context = context;
    this.parent = parent;
    this.startedAtMs = startedAtMs;
    this.system = system;
  }

  get traceId(): string {
    return this.context.traceId;
  }

  get sampled(): boolean {
    return (this.context.traceFlags & TraceFlags.SAMPLED) !== 0;
  }

  /** A pipeline stage ended `atMs` after arrival (an attribute `portcullis.stage.<name>_ms` of the call span). */
  stage(name: string, atMs: number): void {
    if (!this.sampled) return;
    this.stageNames.push(name);
    this.stageTimes.push(atMs);
  }

  /**
   * The headers to send upstream: `traceparent` (and the caller's `tracestate`) naming the upstream
   * CLIENT span, which starts now. An unsampled trace still propagates its ids, sampled flag off.
   */
  upstreamHeaders(provider: string, atMs: number): Record<string, string> {
    this.upstream ??= { spanId: this.tracer.spanId(), atMs, provider };
    const flags = this.sampled ? '01' : '00';
    const out: Record<string, string> = {
      traceparent: `00-${this.context.traceId}-${this.upstream.spanId}-${flags}`,
    };
    const state = this.context.traceState?.serialize();
    if (state) out.tracestate = state;
    return out;
  }

  /** Ends the call's spans with what the record says, and queues them for export when sampled. */
  end(record: ObservedRecord, extras: TraceExtras = {}): void {
    if (!this.sampled) return;
    const endMs = this.startedAtMs + record.latency.totalMs;
    const name = `chat ${record.model}`;
    const status =
      record.outcome === 'error'
        ? { code: SpanStatusCode.ERROR, message: record.errorCode }
        : { code: SpanStatusCode.UNSET };
    const tokens = record.tokens;
    const attributes: Attributes = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.system': this.system,
      'gen_ai.provider.name': this.system,
      'gen_ai.request.model': record.model,
      'gen_ai.usage.input_tokens': tokens.input,
      'gen_ai.usage.output_tokens': tokens.output,
      'gen_ai.usage.cache_read.input_tokens': tokens.cached,
      'gen_ai.request.stream': record.stream,
      'portcullis.request_id': record.requestId,
      'portcullis.surface': record.surface,
      'portcullis.provider': record.provider,
      'portcullis.outcome': record.outcome,
      'portcullis.policy.revision': record.policyRevision,
      'portcullis.cost_usd': record.costUsd,
      'portcullis.latency.gateway_ms': record.latency.gatewayMs,
      'portcullis.latency.upstream_ms': record.latency.upstreamMs,
    };
    // Empty values are left out: every attribute is encoded and sent for every traced call.
    if (record.keyId) attributes['portcullis.key.id'] = record.keyId;
    if (record.team) attributes['portcullis.team'] = record.team;
    const findings = record.findings;
    if (findings.length > 0) {
      attributes['portcullis.findings.count'] = findings.length;
      // Rule and action only: a finding's fingerprint and location stay in the audit log.
      attributes['portcullis.findings'] = findings.map((f) => `${f.rule}:${f.action}`);
    }
    const tools = record.tools;
    if (tools.stripped.length > 0) attributes['portcullis.tools.stripped'] = [...tools.stripped];
    if (tools.deniedCalls.length > 0) attributes['portcullis.tools.denied_calls'] = [...tools.deniedCalls];
    for (let i = 0; i < this.stageNames.length; i++) {
      attributes[stageKey(this.stageNames[i])] = this.stageTimes[i];
    }
    if (extras.responseModel) attributes['gen_ai.response.model'] = extras.responseModel;
    if (extras.finishReasons && extras.finishReasons.length > 0) {
      attributes['gen_ai.response.finish_reasons'] = [...extras.finishReasons];
    }
    const decision = record.decision;
    if (decision) {
      attributes['portcullis.decision.allow'] = decision.allow;
      attributes['portcullis.decision.code'] = decision.code;
      attributes['portcullis.decision.status'] = decision.status;
      if (decision.reasons.length > 0) attributes['portcullis.decision.reasons'] = [...decision.reasons];
    }
    if (record.errorCode) attributes['error.type'] = record.errorCode;
    this.tracer.emit(
      this.span(
        this.context,
        this.parent,
        SpanKind.SERVER,
        name,
        this.startedAtMs,
        endMs,
        attributes,
        status,
      ),
    );
    if (this.upstream) {
      const child: SpanContext = { ...this.context, spanId: this.upstream.spanId };
      // The call's attributes are on its parent span; the upstream span only says what it called.
      const upstreamAttributes: Attributes = {
        'gen_ai.system': this.system,
        'gen_ai.request.model': record.model,
      };
      const from = this.startedAtMs + this.upstream.atMs;
      this.tracer.emit(
        this.span(
          child,
          this.context,
          SpanKind.CLIENT,
          name,
          from,
          Math.max(from, endMs),
          upstreamAttributes,
          status,
        ),
      );
    }
  }

  private span(
    context: SpanContext,
    parent: SpanContext | undefined,
    kind: SpanKind,
    name: string,
    startMs: number,
    endMs: number,
    attributes: Attributes,
    status: ReadableSpan['status'],
  ): ReadableSpan {
    return {
      name,
      kind,
      spanContext: () => context,
      parentSpanContext: parent,
      startTime: hrTime(startMs),
      endTime: hrTime(endMs),
      duration: hrTime(endMs - startMs),
      status,
      attributes,
      links: [],
      events: [],
      ended: true,
      resource: this.tracer.resource,
      instrumentationScope: SCOPE,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  }
}

/**
 * A tracer from the standard OpenTelemetry environment: on when `OTEL_TRACES_EXPORTER` is `otlp`, or
 * unset with an OTLP endpoint named; `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (full URL) or
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (+ /v1/traces); `OTEL_TRACES_SAMPLER_ARG` the ratio. Undefined when
 * off, so a gateway without tracing runs no tracing code at all.
 */
export function tracerFromEnv(env: Record<string, string | undefined> = process.env): CallTracer | undefined {
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (exporter === 'none' || env.OTEL_SDK_DISABLED === 'true') return undefined;
  const signal = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (exporter === undefined && !signal && !base) return undefined;
  if (exporter !== undefined && exporter !== 'otlp') {
    throw new Error(`OTEL_TRACES_EXPORTER=${exporter} is not supported (otlp or none)`);
  }
  const url = signal || `${(base || 'http://localhost:4318').replace(/\/$/, '')}/v1/traces`;
  const ratio = env.OTEL_TRACES_SAMPLER_ARG === undefined ? 1 : Number(env.OTEL_TRACES_SAMPLER_ARG);
  return new CallTracer({
    url,
    sampleRatio: Number.isFinite(ratio) ? ratio : 1,
    serviceName: env.OTEL_SERVICE_NAME || 'portcullis',
  });
}
