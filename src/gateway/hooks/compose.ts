// Several concerns (limits, guardrails, tool governance, audit) each contribute some pipeline hooks;
// this runs them in the order given, and chains their response filters.
import { compose, type Transform } from 'node:stream';
import type { PipelineHooks, RequestContext } from '../context.ts';
import type { ResponseFilter } from '../forward.ts';

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
    transform() {
      const active: Transform[] = [];
      for (const f of filters) {
        const t = f.transform?.();
        if (t !== undefined) active.push(t);
      }
      if (active.length <= 1) return active[0];
      // node:stream's compose() types want a tuple; the streams are plain Transforms.
      return (compose as (...streams: Transform[]) => unknown)(...active) as Transform;
    },
  };
  if (filters.some((f) => f.held !== undefined)) {
    // A filter that only transforms sees the held body through its transform.
    const helds = filters.map((f) =>
      f.held !== undefined ? f : { held: (body: Buffer) => throughTransform(f, body) },
    );
    // Synchronous while every filter answers synchronously: most bodies need no await at all.
    chained.held = (body) => heldFrom(helds, 0, body);
  }
  return chained;
}

function throughTransform(filter: ResponseFilter, body: Buffer): Buffer | Promise<Buffer> {
  const t = filter.transform?.();
  if (t === undefined) return body;
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    t.on('data', (c: Buffer) => out.push(c));
    t.once('end', () => resolve(Buffer.concat(out)));
    t.once('error', reject);
    t.end(body);
  });
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
