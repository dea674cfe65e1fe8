// Aho-Corasick automaton over ASCII-case-folded keywords: one pass over a text finds every place a
// keyword occurs, so a rule's regular expression only ever runs where its keyword is.
//
// Speed matters (this pass touches every character of every prompt): characters are mapped to the
// few classes that occur in keywords (everything else is one "other" class), transitions live in a
// dense table holding the next state already multiplied by the row width, states that end a keyword
// are numbered last (so "a keyword ends here" is one comparison, not a table read), and each
// character is read by its low byte. Characters above U+00FF lose their
// high byte there; that can only create spurious keyword hits, which the rule's own regular expression
// (run on the real text) then rejects.
//
// One automaton step is a table read whose address depends on the previous step's result, so a
// single pass runs at the latency of a load (~2-3 ns a character here), not at the processor's
// throughput. `scan` therefore cuts a long text into STREAMS stretches and runs one automaton over
// each, interleaved in one loop, over a byte copy of the text (a native Latin-1 write, which keeps the
// low byte of each character as above): the independent reads overlap, about twice as fast.

import { latin1 } from './latin1.ts';

const MAX_STATES = 0xffff;
const MAX_KEPT_HITS = 1 << 20;
/** Automata run side by side over one text in `scan`. */
const STREAMS = 4;
/** Texts shorter than this are read in one pass: cutting them saves less than it costs. */
const MIN_SPLIT = 128;

/**
 * Where `KeywordIndex.scanTail` stopped in a stream: the automaton's state (opaque; 0 is the start) at
 * absolute position `end`, and the `count` occurrences found so far as (keyword, absolute start)
 * pairs in `found`.
 */
export interface KeywordTail {
  end: number;
  state: number;
  found: Int32Array<ArrayBuffer>;
  count: number;
}

export function keywordTail(): KeywordTail {
  return { end: 0, state: 0, found: new Int32Array(16), count: 0 };
}

export class KeywordIndex {
  readonly keywords: readonly string[];
  /** Transitions: row `state` (a multiple of the row width) + character class → next state. */
  readonly #delta: Int32Array;
  readonly #shift: number;
  /** States at or above this one end at least one keyword. */
  readonly #firstOut: number;
  /** For each state with output (by `state >> shift`), the keywords ending there (own and through failure links). */
  readonly #out: (Int32Array | undefined)[];
  readonly #cls: Uint8Array;
  readonly #lengths: Int32Array;
  /** Characters of keyword each state stands for (by `state >> shift`). */
  readonly #depth: Int32Array;
  /** The keyword prefix (lower case) each state stands for (by `state >> shift`). */
  readonly #prefix: string[];
  readonly #longest: number;
  readonly #states: number;
  #hits = new Int32Array(256);
  /** scanTail's answer, reused: callers read it before the next call. */
  readonly #result: { count: number; hits: Int32Array } = { count: 0, hits: new Int32Array(0) };
  /** For one-off passes (partialStateAtEnd, touches): reset before each use. */
  readonly #scratch: KeywordTail = keywordTail();
  /** The occurrences each stream of a split scan finds (its stretch's), reused. */
  readonly #streams: KeywordTail[] = Array.from({ length: STREAMS }, keywordTail);

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
    const depth: number[] = [0];
    const prefix: string[] = [''];
    this.keywords.forEach((kw, idx) => {
      let s = 0;
      for (let i = 0; i < kw.length; i++) {
        const c = this.#cls[kw.charCodeAt(i)];
        let next = goto[s].get(c);
        if (next === undefined) {
          next = goto.length;
          goto.push(new Map());
          ends.push([]);
          depth.push(i + 1);
          prefix.push(kw.slice(0, i + 1));
          goto[s].set(c, next);
        }
        s = next;
      }
      ends[s].push(idx);
    });
    const states = goto.length;
    if (states > MAX_STATES) throw new Error(`keyword index: too many keywords (${states} states)`);

    const delta = new Int32Array(states * width);
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
    // Renumber: the start state stays 0, states without output next, states with output last, each
    // in breadth-first order (the shallow states, where a text spends most of its time, share cache
    // lines). States with output start at a power of two, so no bitwise OR of states without output
    // reaches them: several automata's "a keyword ends here" is one test (`scan`). Numbers between
    // the two groups stand for no state.
    const number = new Int32Array(states);
    let n = 1;
    for (const s of order) if (ends[s].length === 0) number[s] = n++;
    const firstOut = 1 << Math.ceil(Math.log2(n));
    n = firstOut;
    for (const s of order) if (ends[s].length !== 0) number[s] = n++;
    if (n * width > 0x7fffffff) throw new Error(`keyword index: too many keywords (${states} states)`);
    this.#delta = new Int32Array(n * width);
    for (let s = 0; s < states; s++)
      for (let c = 0; c < width; c++)
        this.#delta[number[s] * width + c] = number[delta[s * width + c]] * width;
    this.#firstOut = firstOut * width;
    this.#out = new Array(n).fill(undefined);
    const depths = new Int32Array(n);
    this.#prefix = new Array(n).fill('');
    for (let s = 0; s < states; s++) {
      depths[number[s]] = depth[s];
      this.#prefix[number[s]] = prefix[s];
      if (ends[s].length > 0) this.#out[number[s]] = Int32Array.from(new Set(ends[s]));
    }
    this.#states = states;
    this.#lengths = Int32Array.from(this.keywords, (k) => k.length);
    this.#depth = depths;
    this.#longest = Math.max(0, ...this.#lengths);
  }

  /** The length of the longest keyword. */
  get longest(): number {
    return this.#longest;
  }

  /** How many characters at the end of `text` are the start of a keyword (0 when none). */
  partialAtEnd(text: string): number {
    return this.depthOf(this.partialStateAtEnd(text));
  }

  /**
   * The automaton's state after the end of `text` when it is partway through a keyword (0 when not):
   * identifies the keyword prefix the text ends with (`depthOf`, `prefixOf`).
   */
  partialStateAtEnd(text: string): number {
    const t = this.#scratch;
    t.end = Math.max(0, text.length - this.#longest + 1);
    t.state = 0;
    t.count = 0;
    this.#advance(text, 0, t);
    return t.state;
  }

  /** Characters of keyword a state stands for. */
  depthOf(state: number): number {
    return this.#depth[state >> this.#shift];
  }

  /** The keyword prefix (lower case) a state stands for. */
  prefixOf(state: number): string {
    return this.#prefix[state >> this.#shift];
  }

  /** A dense number for a state (0 … states − 1), for tables indexed by state. */
  ordinal(state: number): number {
    return state >> this.#shift;
  }

  get states(): number {
    return this.#states;
  }

  /**
   * Finds every occurrence of every keyword. Returns how many there are; occurrence i is keyword
   * `hits[2i]` starting at `hits[2i + 1]`, in order of where occurrences end. `hits` is reused by the
   * next call.
   */
  scan(text: string): { count: number; hits: Int32Array } {
    if (this.#hits.length > MAX_KEPT_HITS) this.#hits = new Int32Array(256);
    if (text.length >= MIN_SPLIT) return this.#scanSplit(text);
    // Positions are relative to the start, so the occurrences can be collected in the reused array.
    const tail: KeywordTail = { end: 0, state: 0, found: this.#hits, count: 0 };
    this.#advance(text, 0, tail);
    this.#hits = tail.found;
    return { count: tail.count, hits: tail.found };
  }

  /**
   * `scan` with the text cut into STREAMS stretches, one automaton per stretch, all stepped in one
   * loop. The automaton of a stretch starts afresh at its start, so it finds exactly the occurrences
   * that start in or after it; it goes on past the stretch's end only while a keyword that began
   * inside the stretch may still be in progress, and keeps only those. The streams' occurrences are
   * then put in the order one pass finds them.
   */
  #scanSplit(text: string): { count: number; hits: Int32Array } {
    const len = text.length;
    const { bytes } = latin1(text);
    const delta = this.#delta;
    const cls = this.#cls;
    const firstOut = this.#firstOut;
    const q = Math.floor(len / STREAMS);
    const [t0, t1, t2, t3] = this.#streams;
    t0.count = 0;
    t1.count = 0;
    t2.count = 0;
    t3.count = 0;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let i = 0;
    while (i < q) {
      for (; i < q; i++) {
        s0 = delta[s0 + cls[bytes[i]]];
        s1 = delta[s1 + cls[bytes[i + q]]];
        s2 = delta[s2 + cls[bytes[i + 2 * q]]];
        s3 = delta[s3 + cls[bytes[i + 3 * q]]];
        // firstOut is a power of two above every state without output (see the constructor).
        if ((s0 | s1 | s2 | s3) >= firstOut) break;
      }
      if (i === q) break;
      if (s0 >= firstOut) this.#record(t0, s0, i + 1);
      if (s1 >= firstOut) this.#record(t1, s1, i + q + 1);
      if (s2 >= firstOut) this.#record(t2, s2, i + 2 * q + 1);
      if (s3 >= firstOut) this.#record(t3, s3, i + 3 * q + 1);
      i++;
    }
    // The last stretch takes the remainder of len / STREAMS.
    for (let k = 4 * q; k < len; k++) {
      s3 = delta[s3 + cls[bytes[k]]];
      if (s3 >= firstOut) this.#record(t3, s3, k + 1);
    }
    this.#overrun(bytes, len, q, s0, t0);
    this.#overrun(bytes, len, 2 * q, s1, t1);
    this.#overrun(bytes, len, 3 * q, s2, t2);
    return this.#merge();
  }

  /**
   * Goes on past the end `stop` of a stretch, from state `s`, while the keyword prefix in progress
   * began before `stop`; records the occurrences that start before it.
   */
  #overrun(bytes: Uint8Array, len: number, stop: number, s: number, tail: KeywordTail): void {
    const delta = this.#delta;
    const cls = this.#cls;
    const depth = this.#depth;
    const shift = this.#shift;
    const lengths = this.#lengths;
    for (let k = stop; k < len && depth[s >> shift] > k - stop; k++) {
      s = delta[s + cls[bytes[k]]];
      if (s < this.#firstOut) continue;
      const out = this.#out[s >> shift]!;
      // Longest keyword first: the ones that start before `stop` lead the list.
      for (let j = 0; j < out.length && k + 1 - lengths[out[j]] < stop; j++) {
        this.#ensure(tail, 1);
        tail.found[tail.count * 2] = out[j];
        tail.found[tail.count * 2 + 1] = k + 1 - lengths[out[j]];
        tail.count++;
      }
    }
  }

  /**
   * The streams' occurrences in one list, in order of where they end and, at one end, the longest
   * first: the order of one pass. Each stream's list is in that order already, and a later stream's
   * occurrences all start after an earlier one's, so only an earlier stream's overrun can be out of
   * place: the lists are joined and the few stragglers moved back.
   */
  #merge(): { count: number; hits: Int32Array } {
    let total = 0;
    for (const t of this.#streams) total += t.count;
    if (this.#hits.length < 2 * total) this.#hits = new Int32Array(Math.max(256, 2 * total));
    const hits = this.#hits;
    const lengths = this.#lengths;
    let n = 0;
    for (const t of this.#streams) {
      const found = t.found;
      for (let j = 0; j < 2 * t.count; j += 2) {
        const kw = found[j];
        const start = found[j + 1];
        const end = start + lengths[kw];
        // Insertion: step back over the occurrences that end later, or end here and start later.
        let at = n;
        while (at > 0) {
          const pStart = hits[2 * at - 1];
          const pEnd = pStart + lengths[hits[2 * at - 2]];
          if (pEnd < end || (pEnd === end && pStart < start)) break;
          hits[2 * at] = hits[2 * at - 2];
          hits[2 * at + 1] = pStart;
          at--;
        }
        hits[2 * at] = kw;
        hits[2 * at + 1] = start;
        n++;
      }
      if (t.found.length > MAX_KEPT_HITS) t.found = new Int32Array(16);
    }
    return { count: n, hits };
  }

  /** Whether a keyword occurs in `text`, or `text` ends partway through one (it may go on elsewhere). */
  touches(text: string): boolean {
    const tail = this.#scratch;
    tail.end = 0;
    tail.state = 0;
    tail.count = 0;
    this.#advance(text, 0, tail);
    return tail.count > 0 || tail.state !== 0;
  }

  /**
   * `scan` for a window over a stream: `text` holds the stream's characters from absolute position
   * `base` on, and between calls with the same `tail` the window only gains characters at its end and
   * loses some at its start. Only the characters past the last call are read; the occurrences are
   * the same as `scan(text)` would find (those starting before `base` are dropped).
   *
   * `text` may also be just the characters gained since the last call (starting at absolute `base`),
   * with the window starting at `windowBase`: then the window itself is not read at all.
   */
  scanTail(
    text: string,
    base: number,
    tail: KeywordTail,
    windowBase = base,
  ): { count: number; hits: Int32Array } {
    if (tail.end < base) {
      // Nothing scanned is left in the window: start afresh at its start.
      tail.end = base;
      tail.state = 0;
      tail.count = 0;
    }
    this.#advance(text, base, tail);
    const found = tail.found;
    let kept = 0;
    for (let i = 0; i < tail.count; i++) {
      if (found[2 * i + 1] < windowBase) continue;
      found[2 * kept] = found[2 * i];
      found[2 * kept + 1] = found[2 * i + 1];
      kept++;
    }
    tail.count = kept;
    if (this.#hits.length < 2 * kept || this.#hits.length > MAX_KEPT_HITS) {
      this.#hits = new Int32Array(Math.max(256, 2 * kept));
    }
    const hits = this.#hits;
    for (let i = 0; i < 2 * kept; i += 2) {
      hits[i] = found[i];
      hits[i + 1] = found[i + 1] - windowBase;
    }
    const result = this.#result;
    result.count = kept;
    result.hits = hits;
    return result;
  }

  /**
   * Runs the automaton over `text` from absolute position `tail.end` (resuming its state) to the end
   * of `text`, which starts at absolute position `base`. A state carried from before `base` can only
   * add occurrences that start before it, which scanTail drops.
   */
  #advance(text: string, base: number, tail: KeywordTail): void {
    const from = tail.end - base;
    const len = text.length;
    if (len - from <= 0) return;
    const delta = this.#delta;
    const cls = this.#cls;
    const firstOut = this.#firstOut;
    let s = tail.state;
    // The loop only steps; the rare state that ends a keyword is recorded out of line.
    for (let i = from; i < len; i++) {
      s = delta[s + cls[text.charCodeAt(i) & 0xff]];
      if (s >= firstOut) this.#record(tail, s, base + i + 1);
    }
    tail.state = s;
    tail.end = base + len;
  }

  /** Records the keywords ending at absolute position `end` in state `s`. */
  #record(tail: KeywordTail, s: number, end: number): void {
    const out = this.#out[s >> this.#shift]!;
    this.#ensure(tail, out.length);
    const found = tail.found;
    let count = tail.count;
    const lengths = this.#lengths;
    for (let j = 0; j < out.length; j++) {
      found[count * 2] = out[j];
      found[count * 2 + 1] = end - lengths[out[j]];
      count++;
    }
    tail.count = count;
  }

  /** Room in `tail.found` for `more` occurrences. */
  #ensure(tail: KeywordTail, more: number): void {
    const need = (tail.count + more) * 2;
    if (need <= tail.found.length) return;
    const grown = new Int32Array(Math.max(tail.found.length * 2, need));
    grown.set(tail.found);
    tail.found = grown;
  }
}
