// The metrics and tracing plugins: thin adapters from the pipeline's stages and frozen record to
// src/observability (where the metric and span definitions live).
import { type AnswerFacts, answerFactsOfJson, answerFactsOfText } from '../../observability/answer-facts.ts';
import { CallMetrics, perKeyLabelsOf } from '../../observability/call-metrics.ts';
import type { CallTrace, CallTracer } from '../../observability/tracing.ts';
import type { Snapshot } from '../../policy/snapshot.ts';
import type { Call } from '../call.ts';
import type { Plugin } from '../plugin.ts';

/** Milliseconds from forwarding to the answer's first body byte, when both happened. */
function ttfbOf(call: Call): number | undefined {
  const t = call.timings;
  return t.firstByte > 0 && t.forwarded > 0 ? t.firstByte - t.forwarded : undefined;
}

export function createMetricsPlugin(metrics: CallMetrics): Plugin {
  const perKey = new WeakMap<Snapshot, boolean>();
  const perKeyOf = (snapshot: Snapshot): boolean => {
    let on = perKey.get(snapshot);
    if (on === undefined) {
      on = perKeyLabelsOf(snapshot.documents);
      perKey.set(snapshot, on);
    }
    return on;
  };
  return {
    name: 'metrics',
    audit(record, call) {
      metrics.observe(record, {
        ttfbMs: ttfbOf(call),
        budgets: call.input?.usage?.budgets,
        perKeyLabels: perKeyOf(call.snapshot),
      });
    },
  };
}

/** The answering model and finish reasons, from the parsed answer or the tail the usage reader keeps. */
function answerFacts(call: Call): AnswerFacts {
  if (call.upstreamJson !== undefined) return answerFactsOfJson(call.upstreamJson);
  return call.tail ? answerFactsOfText(call.tail) : {};
}

export function createTracingPlugin(tracer: CallTracer): Plugin {
  const traces = new WeakMap<Call, CallTrace>();
  return {
    name: 'tracing',
    observe(call, { stage, at }) {
      if (stage === 'authenticate') {
        traces.set(call, tracer.start(call.startedAt, call.traceContext, call.surface));
        return;
      }
      const trace = traces.get(call);
      if (trace === undefined) return;
      trace.stage(stage, at);
      // The last stage before forwarding: the upstream span starts, and its context goes upstream.
      if (stage === 'rewrite') {
        const headers = trace.upstreamHeaders(call.route?.provider.id ?? 'upstream', at);
        for (const name in headers) call.setUpstreamHeader(name, headers[name]);
      }
    },
    audit(record, call) {
      const trace = traces.get(call);
      if (trace === undefined) return;
      traces.delete(call);
      trace.end(record, { ...(call.outcome === 'forwarded' ? answerFacts(call) : {}) });
    },
  };
}

export { CallMetrics };
