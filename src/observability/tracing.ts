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
import {
  type AttributeKey,
  attributeKey,
  type EmitAttribute,
  OtlpSpanExporter,
  type SelfWritingSpan,
  WRITE_ATTRIBUTES,
} from './otlp-spans.ts';

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

/** The call span's attribute names, encoded once. */
const K = {
  operation: attributeKey('gen_ai.operation.name'),
  system: attributeKey('gen_ai.system'),
  providerName: attributeKey('gen_ai.provider.name'),
  requestModel: attributeKey('gen_ai.request.model'),
  inputTokens: attributeKey('gen_ai.usage.input_tokens'),
  outputTokens: attributeKey('gen_ai.usage.output_tokens'),
  cachedTokens: attributeKey('gen_ai.usage.cache_read.input_tokens'),
  stream: attributeKey('gen_ai.request.stream'),
  responseModel: attributeKey('gen_ai.response.model'),
  finishReasons: attributeKey('gen_ai.response.finish_reasons'),
  requestId: attributeKey('portcullis.request_id'),
  surface: attributeKey('portcullis.surface'),
  provider: attributeKey('portcullis.provider'),
  outcome: attributeKey('portcullis.outcome'),
  revision: attributeKey('portcullis.policy.revision'),
  cost: attributeKey('portcullis.cost_usd'),
  gatewayMs: attributeKey('portcullis.latency.gateway_ms'),
  upstreamMs: attributeKey('portcullis.latency.upstream_ms'),
  keyId: attributeKey('portcullis.key.id'),
  team: attributeKey('portcullis.team'),
  findingsCount: attributeKey('portcullis.findings.count'),
  findings: attributeKey('portcullis.findings'),
  stripped: attributeKey('portcullis.tools.stripped'),
  deniedCalls: attributeKey('portcullis.tools.denied_calls'),
  allow: attributeKey('portcullis.decision.allow'),
  code: attributeKey('portcullis.decision.code'),
  status: attributeKey('portcullis.decision.status'),
  reasons: attributeKey('portcullis.decision.reasons'),
  errorType: attributeKey('error.type'),
};

/** `portcullis.stage.<name>_ms`, made once per stage name (stages are the pipeline's fixed few). */
const stageKeys = new Map<string, AttributeKey>();
function stageKey(name: string): AttributeKey {
  let key = stageKeys.get(name);
  if (key === undefined) {
    key = attributeKey(`portcullis.stage.${name}_ms`);
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
  private readonly bytes = Buffer.alloc(16 * 1024);

  /** `chars` hex digits (16 for a span id, 32 for a trace id), never all zeros. */
  next(chars: number): string {
    for (;;) {
      if (this.pos + chars > this.hex.length) {
        this.hex = randomFillSync(this.bytes).toString('hex');
        this.pos = 0;
      }
      const id = this.hex.slice(this.pos, this.pos + chars);
      this.pos += chars;
      if (id !== (chars === 32 ? ZERO_TRACE_ID : ZERO_SPAN_ID)) return id;
    }
  }
}
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

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
    const resource = this.tracer.resource;
    this.tracer.emit(
      new CallSpan(
        this.context,
        this.parent,
        SpanKind.SERVER,
        name,
        this.startedAtMs,
        endMs,
        status,
        resource,
        (emit) => this.callAttributes(emit, record, extras),
      ),
    );
    if (this.upstream) {
      const child: SpanContext = { ...this.context, spanId: this.upstream.spanId };
      const from = this.startedAtMs + this.upstream.atMs;
      // The call's attributes are on its parent span; the upstream span only says what it called.
      const system = this.system;
      this.tracer.emit(
        new CallSpan(
          child,
          this.context,
          SpanKind.CLIENT,
          name,
          from,
          Math.max(from, endMs),
          status,
          resource,
          (emit) => {
            emit(K.system, system);
            emit(K.requestModel, record.model);
          },
        ),
      );
    }
  }

  /** The call span's attributes, in the order they are exported. Empty ones are left out: every attribute is encoded and sent for every traced call. */
  private callAttributes(emit: EmitAttribute, record: ObservedRecord, extras: TraceExtras): void {
    const tokens = record.tokens;
    emit(K.operation, 'chat');
    emit(K.system, this.system);
    emit(K.providerName, this.system);
    emit(K.requestModel, record.model);
    emit(K.inputTokens, tokens.input);
    emit(K.outputTokens, tokens.output);
    emit(K.cachedTokens, tokens.cached);
    emit(K.stream, record.stream);
    emit(K.requestId, record.requestId);
    emit(K.surface, record.surface);
    emit(K.provider, record.provider);
    emit(K.outcome, record.outcome);
    emit(K.revision, record.policyRevision);
    emit(K.cost, record.costUsd);
    emit(K.gatewayMs, record.latency.gatewayMs);
    emit(K.upstreamMs, record.latency.upstreamMs);
    if (record.keyId) emit(K.keyId, record.keyId);
    if (record.team) emit(K.team, record.team);
    const findings = record.findings;
    if (findings.length > 0) {
      emit(K.findingsCount, findings.length);
      // Rule and action only: a finding's fingerprint and location stay in the audit log.
      emit(
        K.findings,
        findings.map((f) => `${f.rule}:${f.action}`),
      );
    }
    const tools = record.tools;
    if (tools.stripped.length > 0) emit(K.stripped, [...tools.stripped]);
    if (tools.deniedCalls.length > 0) emit(K.deniedCalls, [...tools.deniedCalls]);
    for (let i = 0; i < this.stageNames.length; i++) emit(stageKey(this.stageNames[i]), this.stageTimes[i]);
    if (extras.responseModel) emit(K.responseModel, extras.responseModel);
    if (extras.finishReasons && extras.finishReasons.length > 0)
      emit(K.finishReasons, [...extras.finishReasons]);
    const decision = record.decision;
    if (decision) {
      emit(K.allow, decision.allow);
      emit(K.code, decision.code);
      emit(K.status, decision.status);
      if (decision.reasons.length > 0) emit(K.reasons, [...decision.reasons]);
    }
    if (record.errorCode) emit(K.errorType, record.errorCode);
  }
}

const NONE: never[] = [];

/**
 * A finished span handed to the SDK's batch processor. Its attributes are listed by a function: the
 * encoder writes them straight from the record, and `attributes` (for any other exporter) builds the
 * object from the same list on first use.
 */
class CallSpan implements SelfWritingSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly duration: HrTime;
  readonly status: ReadableSpan['status'];
  readonly links = NONE;
  readonly events = NONE;
  readonly ended = true;
  readonly resource: Resource;
  readonly instrumentationScope = SCOPE;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly #context: SpanContext;
  readonly #write: (emit: EmitAttribute) => void;
  #attributes: Attributes | undefined;

  constructor(
    context: SpanContext,
    parent: SpanContext | undefined,
    kind: SpanKind,
    name: string,
    startMs: number,
    endMs: number,
    status: ReadableSpan['status'],
    resource: Resource,
    write: (emit: EmitAttribute) => void,
  ) {
    this.#context = context;
    this.parentSpanContext = parent;
    this.kind = kind;
    this.name = name;
    this.startTime = hrTime(startMs);
    this.endTime = hrTime(endMs);
    this.duration = hrTime(endMs - startMs);
    this.status = status;
    this.resource = resource;
    this.#write = write;
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  get attributes(): Attributes {
    if (this.#attributes === undefined) {
      const attributes: Attributes = {};
      this.#write((key, value) => {
        attributes[key.name] = value;
      });
      this.#attributes = attributes;
    }
    return this.#attributes;
  }

  [WRITE_ATTRIBUTES](emit: EmitAttribute): void {
    this.#write(emit);
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
