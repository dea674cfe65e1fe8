// Deterministic filler text: the same seed always gives the same words (one word = one token).

const WORDS = (
  'the gateway decides each call by policy and forwards it upstream while counting tokens so budgets ' +
  'hold and auditors can read who called which model under what rule at what cost every request ' +
  'carries a virtual key the team owns and the platform reviews changes by pull request before merge'
).split(' ');

/** FNV-1a, 32 bit. */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A deterministic word stream: each call continues where the last one stopped. */
export function wordSource(seed: number): (count: number) => string[] {
  let x = seed || 1;
  return (count) => {
    const out: string[] = new Array(count);
    for (let i = 0; i < count; i++) {
      // xorshift32
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = WORDS[(x >>> 0) % WORDS.length];
    }
    return out;
  };
}

export function generateWords(seed: number, count: number): string[] {
  return wordSource(seed)(count);
}

/** Words joined as streamed pieces: every piece but the first starts with a space. */
export function pieces(words: readonly string[], perPiece: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length; i += perPiece) {
    const part = words.slice(i, i + perPiece).join(' ');
    out.push(i === 0 ? part : ` ${part}`);
  }
  return out;
}
