// Several concerns (limits, guardrails, tool governance, audit) each contribute some pipeline hooks;
// this runs them in the order given, and chains their response filters.
import type { PipelineHooks, RequestContext } from '../context.ts';
import type { ResponseFilter, StreamSink } from '../forward.ts';

type SequentialHook = 'reserve' | 'requestGuardrails' | 'beforeForward' | 'settle' | 'audit';
const SEQUENTIAL: SequentialHook[] = ['reserve', 'requestGuardrails', 'beforeForward', 'settle', 'audit'];

export function composeHooks(...parts: PipelineHooks[]): PipelineHooks {
  const out: PipelineHooks = {};
  for (const name of SEQUENTIAL) {
    const fns = parts.map((p) => p[name]?.bind(p)).filter((f) => f !== undefined);
    if (fns.length === 1) out[name] = fns[0];
    else if (fns.length > 1) {
      // A hook that refuses the call (sets a denial) ends the pre-decision stages.
      const stops = name === 'reserve' || name === 'requestGuardrails';
      out[name] = (ctx: RequestContext) => runFrom(fns, 0, ctx, stops);
    }
  }
  const filters = parts.map((p) => p.responseGuardrails?.bind(p)).filter((f) => f !== undefined);
  if (filters.length === 1) out.responseGuardrails = filters[0];
  else if (filters.length > 1) {
    out.responseGuardrails = (ctx) => {
      const active: ResponseFilter[] = [];
      for (const f of filters) {
        const filter = f(ctx);
        if (filter !== undefined) active.push(filter);
      }
      return active.length <= 1 ? active[0] : chainFilters(active);
    };
  }
  return out;
}

type Hook = (ctx: RequestContext) => void | Promise<void>;

/** Runs hooks in order, synchronously until one returns a promise; then the rest wait for it. */
function runFrom(fns: Hook[], from: number, ctx: RequestContext, stops: boolean): void | Promise<void> {
  for (let i = from; i < fns.length; i++) {
    if (stops && ctx.decision !== null) return;
    const r = fns[i](ctx);
    if (r instanceof Promise) return r.then(() => runFrom(fns, i + 1, ctx, stops));
  }
}

/** Filters in order: each sees what the one before it let through. */
function chainFilters(filters: ResponseFilter[]): ResponseFilter {
  const chained: ResponseFilter = {
    stream(next: StreamSink) {
      let sink = next;
      for (let i = filters.length - 1; i >= 0; i--) sink = filters[i].stream?.(sink) ?? sink;
      return sink === next ? undefined : sink;
    },
  };
  // A filter without `held` leaves non-streamed bodies alone.
  const helds = filters.filter((f) => f.held !== undefined);
  // Synchronous while every filter answers synchronously: most bodies need no await at all.
  if (helds.length > 0) chained.held = (body) => heldFrom(helds, 0, body);
  return chained;
}

function heldFrom(helds: ResponseFilter[], from: number, body: Buffer): Buffer | Promise<Buffer> {
  let current = body;
  for (let i = from; i < helds.length; i++) {
    const out = helds[i].held!(current);
    if (out instanceof Promise) return out.then((b) => heldFrom(helds, i + 1, b));
    current = out;
  }
  return current;
}
