// Shared by the keyword automaton tests: replayable random input, and hits in a comparable form.

/** Deterministic, so a failure replays. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A keyword scan's hits as `keyword@offset` strings, in the order found. */
export const pairs = (r: { count: number; hits: Int32Array }) =>
  Array.from({ length: r.count }, (_, i) => `${r.hits[2 * i]}@${r.hits[2 * i + 1]}`);
