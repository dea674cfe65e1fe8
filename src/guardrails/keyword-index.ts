// Aho-Corasick automaton over ASCII-case-folded keywords: one pass over a text finds every place a
// keyword occurs, so a rule's regular expression only ever runs where its keyword is.
//
// Speed matters (this pass touches every character of every prompt): characters are mapped to the
// few classes that occur in keywords (everything else is one "other" class), transitions live in a
// dense Uint16Array, and the text is read as Latin-1 bytes from a reused buffer. Characters above
// U+00FF lose their high byte there; that can only create spurious keyword hits, which the rule's
// own regular expression (run on the real text) then rejects.

const MAX_STATES = 0xffff;
let scratch = Buffer.allocUnsafe(64 * 1024);
const MAX_KEPT_SCRATCH = 4 * 1024 * 1024;
const MAX_KEPT_HITS = 1 << 20;

export class KeywordIndex {
  readonly keywords: readonly string[];
  readonly #delta: Uint16Array;
  readonly #shift: number;
  /** For each state, the keywords ending there (own and through failure links), or undefined. */
  readonly #out: (Int32Array | undefined)[];
  readonly #hasOut: Uint8Array;
  readonly #cls: Uint8Array;
  readonly #lengths: Int32Array;
  #hits = new Int32Array(256);

  constructor(keywords: readonly string[]) {
    this.keywords = keywords.map((k) => {
      if (!k || [...k].some((ch) => ch.charCodeAt(0) >= 128 || ch.charCodeAt(0) === 0)) {
        throw new Error(`keyword index: keywords must be non-empty ASCII (got ${JSON.stringify(k)})`);
      }
      return k.toLowerCase();
    });
    // Byte → character class; 0 is "not in any keyword". Upper case folds onto lower case.
    this.#cls = new Uint8Array(256);
    let classes = 1;
    for (const kw of this.keywords) {
      for (let i = 0; i < kw.length; i++) {
        const c = kw.charCodeAt(i);
        if (this.#cls[c] !== 0) continue;
        this.#cls[c] = classes;
        if (c >= 97 && c <= 122) this.#cls[c - 32] = classes;
        classes++;
      }
    }
    this.#shift = Math.max(1, Math.ceil(Math.log2(classes)));
    const width = 1 << this.#shift;

    const goto: Map<number, number>[] = [new Map()];
    const ends: number[][] = [[]];
    this.keywords.forEach((kw, idx) => {
      let s = 0;
      for (let i = 0; i < kw.length; i++) {
        const c = this.#cls[kw.charCodeAt(i)];
        let next = goto[s].get(c);
        if (next === undefined) {
          next = goto.length;
          goto.push(new Map());
          ends.push([]);
          goto[s].set(c, next);
        }
        s = next;
      }
      ends[s].push(idx);
    });
    const states = goto.length;
    if (states > MAX_STATES) throw new Error(`keyword index: too many keywords (${states} states)`);

    const delta = new Uint16Array(states * width);
    const fail = new Int32Array(states);
    const order: number[] = [];
    for (let c = 0; c < width; c++) {
      const next = goto[0].get(c) ?? 0;
      delta[c] = next;
      if (next !== 0) order.push(next);
    }
    for (let qi = 0; qi < order.length; qi++) {
      const s = order[qi];
      ends[s].push(...ends[fail[s]]);
      for (let c = 0; c < width; c++) {
        const next = goto[s].get(c);
        if (next !== undefined) {
          fail[next] = delta[fail[s] * width + c];
          delta[s * width + c] = next;
          order.push(next);
        } else {
          delta[s * width + c] = delta[fail[s] * width + c];
        }
      }
    }
    this.#delta = delta;
    this.#out = ends.map((e) => (e.length ? Int32Array.from(new Set(e)) : undefined));
    this.#hasOut = Uint8Array.from(this.#out, (o) => (o ? 1 : 0));
    this.#lengths = Int32Array.from(this.keywords, (k) => k.length);
  }

  /**
   * Finds every occurrence of every keyword. Returns how many there are; occurrence i is keyword
   * `hits[2i]` starting at `hits[2i + 1]`, in order of where occurrences end. `hits` is reused by the
   * next call.
   */
  scan(text: string): { count: number; hits: Int32Array } {
    const n = text.length;
    // One reused buffer for ordinary texts; an outsized one is not kept after the call.
    let buf = scratch;
    if (buf.length < n) {
      buf = Buffer.allocUnsafe(n);
      if (n <= MAX_KEPT_SCRATCH) scratch = buf;
    }
    if (this.#hits.length > MAX_KEPT_HITS) this.#hits = new Int32Array(256);
    buf.write(text, 0, n, 'latin1');
    const delta = this.#delta;
    const cls = this.#cls;
    const hasOut = this.#hasOut;
    const shift = this.#shift;
    const lengths = this.#lengths;
    let hits = this.#hits;
    let count = 0;
    let s = 0;
    for (let i = 0; i < n; i++) {
      s = delta[(s << shift) | cls[buf[i]]];
      if (hasOut[s] !== 0) {
        const out = this.#out[s]!;
        if ((count + out.length) * 2 > hits.length) {
          const grown = new Int32Array(Math.max(hits.length * 2, (count + out.length) * 2));
          grown.set(hits);
          hits = this.#hits = grown;
        }
        for (let j = 0; j < out.length; j++) {
          hits[count * 2] = out[j];
          hits[count * 2 + 1] = i + 1 - lengths[out[j]];
          count++;
        }
      }
    }
    return { count, hits };
  }
}
