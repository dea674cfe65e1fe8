// The respond stage's filters in plugin order, as one: each sees what the one before it let through.
import type { ResponseFilter, StreamSink } from './plugin.ts';

export function chainFilters(filters: ResponseFilter[]): ResponseFilter | undefined {
  if (filters.length <= 1) return filters[0];
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
