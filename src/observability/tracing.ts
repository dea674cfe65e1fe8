// OpenTelemetry traces of calls, exported over OTLP/HTTP (protobuf) with the official SDK.
//
// One SERVER span per call, named `chat <model>` with the GenAI semantic conventions (`gen_ai.*`)
// and Portcullis's own attributes (`portcullis.*`: decision, reasons, revision, findings by rule and
// action — never a key, a matched secret or content), and one CLIENT span for the upstream request,
// whose context goes upstream as `traceparent`, so a provider that traces joins the caller's trace.
// The caller's own `traceparent`/`tracestate` is the parent; sampling follows the caller's decision
// when there is one, else `sampleRatio`. Spans are built when the call ends, from the record, with
// their real start and end times, so the request path pays for two span objects and no more.

import { hostname } from 'node:os';
import {
  type Context,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { ObservedExtras, ObservedRecord } from './call-metrics.ts';

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

const propagator = new W3CTraceContextPropagator();

/** `gen_ai.system` / `gen_ai.provider.name` by wire format. */
function genAiSystem(surface: string): string {
  if (surface.startsWith('anthropic')) return 'anthropic';
  if (surface.startsWith('gemini')) return 'gcp.gemini';
  if (surface.startsWith('openai')) return 'openai';
  return surface.split('.')[0] ?? 'unknown';
}

export class CallTracer {
  private readonly provider: BasicTracerProvider;
  private readonly tracer;

  constructor(opts: TracingOptions) {
    const exporter =
      opts.exporter ?? new OTLPTraceExporter({ url: opts.url, headers: opts.headers, timeoutMillis: 10_000 });
    const ratio = Math.min(1, Math.max(0, opts.sampleRatio ?? 1));
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: opts.serviceName ?? 'portcullis',
        [ATTR_SERVICE_VERSION]: '0.1.0',
        'host.name': hostname(),
      }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
      spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 8192, scheduledDelayMillis: 1000 })],
    });
    this.tracer = this.provider.getTracer('portcullis.gateway', '1');
  }

  /** Starts a call's trace at its arrival time, under the caller's trace context when it sent one. */
  start(startedAtMs: number, incoming: IncomingTraceContext, surface: string): CallTrace {
    const parent = incoming.traceparent
      ? propagator.extract(ROOT_CONTEXT, incoming, defaultTextMapGetter)
      : ROOT_CONTEXT;
    const span = this.tracer.startSpan(
      'chat',
      { kind: SpanKind.SERVER, startTime: startedAtMs, attributes: { 'gen_ai.operation.name': 'chat' } },
      parent,
    );
    return new CallTrace(this.tracer, span, trace.setSpan(parent, span), startedAtMs, genAiSystem(surface));
  }

  /** Sends what is buffered. */
  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  close(): Promise<void> {
    return this.provider.shutdown();
  }
}

export class CallTrace {
  private upstream: Span | undefined;
  private readonly tracer: ReturnType<BasicTracerProvider['getTracer']>;
  private readonly span: Span;
  private readonly ctx: Context;
  private readonly startedAtMs: number;
  private readonly system: string;

  constructor(
    tracer: ReturnType<BasicTracerProvider['getTracer']>,
    span: Span,
    ctx: Context,
    startedAtMs: number,
    system: string,
  ) {
    this.tracer = tracer;
    this.span = span;
    this.ctx = ctx;
    this.startedAtMs = startedAtMs;
    this.system = system;
  }

  get traceId(): string {
    return this.span.spanContext().traceId;
  }

  get sampled(): boolean {
    return this.span.isRecording();
  }

  /** A pipeline stage ended `atMs` after arrival. */
  stage(name: string, atMs: number): void {
    if (this.span.isRecording()) this.span.addEvent(name, this.startedAtMs + atMs);
  }

  /**
   * The headers to send upstream: `traceparent` (and `tracestate`) naming the upstream CLIENT span,
   * started now. An unsampled trace still propagates its ids, with the sampled flag off.
   */
  upstreamHeaders(provider: string, atMs: number): Record<string, string> {
    this.upstream ??= this.tracer.startSpan(
      `chat upstream ${provider}`,
      { kind: SpanKind.CLIENT, startTime: this.startedAtMs + atMs },
      this.ctx,
    );
    const out: Record<string, string> = {};
    propagator.inject(trace.setSpan(context.active(), this.upstream), out, defaultTextMapSetter);
    return out;
  }

  /** Ends the call's spans with what the record says. */
  end(record: ObservedRecord, extras: TraceExtras = {}): void {
    const span = this.span;
    const endMs = this.startedAtMs + record.latency.totalMs;
    if (!span.isRecording()) {
      span.end(endMs);
      this.upstream?.end(endMs);
      return;
    }
    const genAi: Record<string, string | number | string[]> = {
      'gen_ai.system': this.system,
      'gen_ai.provider.name': this.system,
      'gen_ai.request.model': record.model,
      'gen_ai.usage.input_tokens': record.tokens.input,
      'gen_ai.usage.output_tokens': record.tokens.output,
      'gen_ai.usage.cache_read.input_tokens': record.tokens.cached,
    };
    if (extras.responseModel) genAi['gen_ai.response.model'] = extras.responseModel;
    if (extras.finishReasons && extras.finishReasons.length > 0) {
      genAi['gen_ai.response.finish_reasons'] = [...extras.finishReasons];
    }
    span.updateName(`chat ${record.model}`);
    span.setAttributes(genAi);
    span.setAttributes({
      'gen_ai.request.stream': record.stream,
      'portcullis.request_id': record.requestId,
      'portcullis.surface': record.surface,
      'portcullis.provider': record.provider,
      'portcullis.key.id': record.keyId ?? '',
      'portcullis.team': record.team ?? '',
      'portcullis.outcome': record.outcome,
      'portcullis.policy.revision': record.policyRevision,
      'portcullis.cost_usd': record.costUsd,
      'portcullis.latency.gateway_ms': record.latency.gatewayMs,
      'portcullis.latency.upstream_ms': record.latency.upstreamMs,
      'portcullis.findings.count': record.findings.length,
      // Rule and action only: a finding's fingerprint and location stay in the audit log.
      'portcullis.findings': record.findings.map((f) => `${f.rule}:${f.action}`),
      'portcullis.tools.stripped': [...record.tools.stripped],
      'portcullis.tools.denied_calls': [...record.tools.deniedCalls],
    });
    if (record.decision) {
      span.setAttributes({
        'portcullis.decision.allow': record.decision.allow,
        'portcullis.decision.code': record.decision.code,
        'portcullis.decision.status': record.decision.status,
        'portcullis.decision.reasons': [...record.decision.reasons],
      });
    }
    if (record.errorCode) span.setAttribute('error.type', record.errorCode);
    if (record.outcome === 'error') span.setStatus({ code: SpanStatusCode.ERROR, message: record.errorCode });
    if (this.upstream) {
      this.upstream.setAttributes(genAi);
      this.upstream.updateName(`chat ${record.model}`);
      if (record.outcome === 'error')
        this.upstream.setStatus({ code: SpanStatusCode.ERROR, message: record.errorCode });
      this.upstream.end(endMs);
    }
    span.end(endMs);
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
