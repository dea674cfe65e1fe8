// Shannon entropy in bits per character: how random a candidate value looks.

const counts = new Uint32Array(128);

export function shannonEntropy(s: string): number {
  const n = s.length;
  if (n === 0) return 0;
  let other: Map<number, number> | undefined;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 128) counts[c]++;
    else {
      other ??= new Map();
      other.set(c, (other.get(c) ?? 0) + 1);
    }
  }
  let h = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && counts[c] > 0) {
      const p = counts[c] / n;
      h -= p * Math.log2(p);
      counts[c] = 0;
    }
  }
  if (other) {
    for (const k of other.values()) {
      const p = k / n;
      h -= p * Math.log2(p);
    }
  }
  return h;
}

/**
 * The entropy a value of this length must reach: `minEntropy`, but never more than 85% of the most a
 * string of that length can have (log2 of its length), so short random passwords still count.
 */
export function entropyThreshold(length: number, minEntropy: number): number {
  return Math.min(minEntropy, 0.85 * Math.log2(Math.max(length, 2)));
}
