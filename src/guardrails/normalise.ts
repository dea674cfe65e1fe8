// Normalised views of a text, scanned besides the text itself, so simple encodings do not hide a
// credential: format characters (zero-width spaces, joiners, soft hyphens, bidi controls) removed,
// full-width forms folded to ASCII, URL-encoding (`%41`, and `%2541` encoded twice), JSON and C escapes
// (`\u0041`, `\/`, `\x41`) and HTML character references (`&#65;`, `&#x41;`) decoded, a line
// break inside a long token (a hard-wrapped key) joined, and base64 runs long enough to hide a
// credential decoded when they decode to text: ASCII or UTF-8, lines and all (a base64'd `.env`), and
// in whole texts a block wrapped over lines as `base64` and MIME write it (64 or 76 columns), broken
// up by invisibles, or encoded twice; and in whole texts, text written in hex (`xxd -p`).
//
// Every view character knows the original offset it came from, so a finding in a view names the
// original characters and redaction edits the original text.
import { latin1 } from './latin1.ts';
import type { Match, TextDetector } from './types.ts';

export interface View {
  readonly text: string;
  /** Original offset of each view character, plus one entry past the end. */
  readonly map: Int32Array;
  /** For a decoded base64 run: every finding covers the whole run (its original span). */
  readonly span?: readonly [number, number];
  /** The original spans edited: a finding in the view counts only if it covers one. */
  readonly edited?: readonly (readonly [number, number])[];
}

/**
 * A view whose map is built on first read: most views have no match, and building the map cost more
 * than making the view's text.
 */
class LazyView implements View {
  readonly text: string;
  readonly span: readonly [number, number] | undefined;
  readonly edited: readonly (readonly [number, number])[] | undefined;
  /** The edits applied to original[from, to) to make the text; none: the text came from `from`. */
  readonly #edits: Edit[] | undefined;
  readonly #from: number;
  readonly #to: number;
  #map: Int32Array | undefined;

  constructor(
    text: string,
    from: number,
    to: number,
    edits: Edit[] | undefined,
    span: readonly [number, number] | undefined,
  ) {
    this.text = text;
    this.#from = from;
    this.#to = to;
    this.#edits = edits;
    this.span = span;
    this.edited = edits?.map((e) => [e.start, e.end] as const);
    this.#map = undefined;
  }

  get map(): Int32Array {
    if (this.#map === undefined) {
      const map = new Int32Array(this.text.length + 1);
      if (this.#edits === undefined) map.fill(this.#from);
      else {
        let at = this.#from;
        let k = 0;
        for (const e of this.#edits) {
          for (let i = at; i < e.start; i++) map[k++] = i;
          for (let i = 0; i < e.text.length; i++) map[k++] = e.start;
          at = e.end;
        }
        for (let i = at; i < this.#to; i++) map[k++] = i;
        map[k] = this.#to;
      }
      this.#map = map;
    }
    return this.#map;
  }
}

// Character classes for one pass over the text.
const TOKEN = 1; // [A-Za-z0-9+/=_-]: what credentials and base64 are made of
const B64 = 2; // [A-Za-z0-9+/_-]
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9+/=_-]/.test(ch)) CLASS[c] |= TOKEN;
  if (/[A-Za-z0-9+/_-]/.test(ch)) CLASS[c] |= B64;
}

/** Unicode format characters (category Cf) and other invisibles that may sit inside a token. */
function invisible(c: number): boolean {
  return (
    c === 0xad ||
    c === 0x34f ||
    c === 0x61c ||
    c === 0x180e ||
    (c >= 0x200b && c <= 0x200f) ||
    (c >= 0x202a && c <= 0x202e) ||
    (c >= 0x2060 && c <= 0x206f) ||
    c === 0xfeff ||
    (c >= 0xfe00 && c <= 0xfe0f)
  );
}

const isToken = (c: number) => c < 128 && (CLASS[c] & TOKEN) !== 0;
const hexVal = (c: number) =>
  c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;

/** Shortest base64 run decoded: 21 bytes, shorter than nearly every credential format. */
const MIN_BASE64 = 28;
/** Joined lines must make a token run at least this long. */
const MIN_JOINED = 20;
/** Only lines at least this long are taken to be hard-wrapped. */
const MIN_WRAPPED_LINE = 40;
/** Text kept around an edit in a view: a credential through the edit fits in it. */
const CONTEXT = 256;
const MAX_VIEWS = 64;

/** One change: original [start, end) becomes `text`. */
interface Edit {
  start: number;
  end: number;
  text: string;
}

// Combining grapheme joiner and variation selectors are written as alternatives: in a character class
// they would read as combining with the character before them.
// Full-width forms of ASCII (`ｇｈｐ＿`, which NFKC folds to ASCII) are found in the same pass.
const INVISIBLE_RE =
  /[\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u206F\uFEFF\uFF01-\uFF5E]|\u034F|[\uFE00-\uFE0F]/g;
const ENCODED_RE =
  /%[0-9A-Fa-f]{2}|\\(?:u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|\/)|&#(?:[0-9]{2,3}|[xX][0-9A-Fa-f]{2});/g;

// What an encoding is worth decoding for: characters credentials, URLs with passwords and base64 are
// made of. `\u0020` or `%20` in code and prose hide nothing; decoding them would only cost a rescan.
const WORTH = new Uint8Array(128);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-:@.')
  WORTH[ch.charCodeAt(0)] = 1;

/**
 * The edit an encoding at `i` (`%41`, `%2541`, `\u0041`, `\x41`, `\/`, `&#65;`, `&#x41;`) makes, if it
 * decodes to something worth it.
 */
function decodeAt(text: string, i: number): Edit | undefined {
  if (text.charCodeAt(i) === 38) {
    const close = text.indexOf(';', i);
    const hex = (text.charCodeAt(i + 2) | 0x20) === 120;
    const v = Number.parseInt(text.slice(i + (hex ? 3 : 2), close), hex ? 16 : 10);
    return v < 128 && WORTH[v] === 1 ? { start: i, end: close + 1, text: String.fromCharCode(v) } : undefined;
  }
  if (text.charCodeAt(i + 1) === 120) {
    const v = hexVal(text.charCodeAt(i + 2)) * 16 + hexVal(text.charCodeAt(i + 3));
    return WORTH[v] === 1 ? { start: i, end: i + 4, text: String.fromCharCode(v) } : undefined;
  }
  if (text.charCodeAt(i) === 37) {
    const v = hexVal(text.charCodeAt(i + 1)) * 16 + hexVal(text.charCodeAt(i + 2));
    if (v === 37) {
      // `%25` is `%`: encoded twice, `%2541` is `A`.
      const hi = hexVal(text.charCodeAt(i + 3));
      const lo = hexVal(text.charCodeAt(i + 4));
      const w = hi * 16 + lo;
      return hi >= 0 && lo >= 0 && WORTH[w] === 1
        ? { start: i, end: i + 5, text: String.fromCharCode(w) }
        : undefined;
    }
    return WORTH[v] === 1 ? { start: i, end: i + 3, text: String.fromCharCode(v) } : undefined;
  }
  if (text.charCodeAt(i + 1) === 47) return { start: i, end: i + 2, text: '/' };
  const v = Number.parseInt(text.slice(i + 2, i + 6), 16);
  if (invisible(v)) return { start: i, end: i + 6, text: '' };
  return v < 128 && WORTH[v] === 1 ? { start: i, end: i + 6, text: String.fromCharCode(v) } : undefined;
}

/** Hard wrapping happens on long lines: the line ending at `i` is at least MIN_WRAPPED_LINE long. */
function longLine(text: string, i: number): boolean {
  if (i < MIN_WRAPPED_LINE) return false;
  for (let k = i - 1; k >= i - MIN_WRAPPED_LINE; k--) {
    const c = text.charCodeAt(k);
    if (c === 10 || c === 13 || (c === 110 && text.charCodeAt(k - 1) === 92)) return false;
  }
  return true;
}

/** The edit joining a line break that starts at `i` and is `br` long, when it sits inside a token. */
function joinAt(text: string, i: number, br: number): Edit | undefined {
  let before = 0;
  for (let k = i - 1; k >= 0 && before < MIN_JOINED && isToken(text.charCodeAt(k)); k--) before++;
  if (before < 4) return undefined;
  const n = text.length;
  let j = i + br;
  while (j < n && j - i - br < 8 && (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9)) j++;
  let after = 0;
  while (j + after < n && after < MIN_JOINED && isToken(text.charCodeAt(j + after))) after++;
  // The line's length last: it reads the most.
  if (after < 4 || before + after < MIN_JOINED || !longLine(text, i)) return undefined;
  return { start: i, end: j, text: '' };
}

const isB64 = (c: number) => c < 128 && (CLASS[c] & B64) !== 0;

/**
 * Runs of at least MIN_BASE64 base64 characters (and their `=` padding). A run that long covers one of
 * every MIN_BASE64-th position, so only those are read; at one that is base64, the run's start is
 * found and the character MIN_BASE64 - 1 after it read, so a short run (an identifier, a path) costs
 * a few reads and a long jump. A long text is probed four bytes at a time instead (probeWords).
 */
function base64Runs(text: string, whole: boolean): [number, number][] | undefined {
  const n = text.length;
  if (n >= WORD_PROBE_MIN) return probeWords(text, whole);
  let runs: [number, number][] | undefined;
  let p = MIN_BASE64 - 1;
  // No run reaches back before `done`: the character before it is not base64.
  let done = 0;
  while (p < n) {
    if (!isB64(text.charCodeAt(p))) {
      p += MIN_BASE64;
      continue;
    }
    const next = runAt(text, p, done, whole);
    if (next < 0) break;
    runs = found(runs);
    done = next;
    p = next + MIN_BASE64 - 1;
  }
  return runs;
}

/** Texts at least this long are probed four bytes at a time. */
const WORD_PROBE_MIN = 256;
/** Full aligned words of four characters every run of MIN_BASE64 holds: ⌊(28 − 3) / 4⌋ + 1. */
const RUN_WORDS = 6;
/** Per pair of bytes (low byte first): 1 when both are base64 characters. */
const B64_PAIR = new Uint8Array(65536);
for (let x = 0; x < 65536; x++) B64_PAIR[x] = isB64(x & 0xff) && isB64(x >>> 8) ? 1 : 0;
/** Whether all four bytes of a word are base64 characters. */
const b64Word = (w: number): boolean => (B64_PAIR[w & 0xffff] & B64_PAIR[w >>> 16]) !== 0;

/**
 * base64Runs over the text's bytes read four at a time: a run of MIN_BASE64 holds RUN_WORDS whole
 * aligned words of base64, so only every RUN_WORDS-th word is read, and only where all four of its
 * bytes are base64 is the text itself read (runAt). A character above U+00FF may read as base64 in
 * its byte; runAt reads the real character.
 */
function probeWords(text: string, whole: boolean): [number, number][] | undefined {
  const { words } = latin1(text);
  const full = text.length >> 2;
  let runs: [number, number][] | undefined;
  let done = 0;
  let k = RUN_WORDS - 1;
  while (k < full) {
    if (!b64Word(words[k])) {
      k += RUN_WORDS;
      continue;
    }
    // RUN_WORDS whole words of base64 in a row through word k, or no run holds it.
    let lo = k;
    while (lo > k - RUN_WORDS + 1 && b64Word(words[lo - 1])) lo--;
    let hi = k;
    while (hi - lo < RUN_WORDS - 1 && hi + 1 < full && b64Word(words[hi + 1])) hi++;
    if (hi - lo < RUN_WORDS - 1) {
      // Word hi + 1 is not base64 (or the text ends): the next run's words start after it.
      k = hi + 1 + RUN_WORDS;
      continue;
    }
    const p = k << 2;
    if (!isB64(text.charCodeAt(p))) {
      // Its byte only looked like base64; no run holds this word.
      done = Math.max(done, p + 1);
      k += RUN_WORDS;
      continue;
    }
    const next = runAt(text, p, done, whole);
    if (next < 0) break;
    runs = found(runs);
    done = next;
    // The next run starts at `done` or later; its first RUN_WORDS whole words hold a probe.
    k = ((done + 3) >> 2) + RUN_WORDS - 1;
  }
  return runs;
}

/** runAt's run, when it found one (read by `found`). */
let lastRun: [number, number] | undefined;

/** Adds runAt's run, if any, to `runs`. */
function found(runs: [number, number][] | undefined): [number, number][] | undefined {
  if (lastRun === undefined) return runs;
  runs ??= [];
  runs.push(lastRun);
  lastRun = undefined;
  return runs;
}

/**
 * At base64 character `p` (no run reaches back before `done`): the run through it, when it is at least
 * MIN_BASE64 long and may encode text, goes to `lastRun` (a block wrapped over lines whole, padding
 * included). Returns where the next run may start, or -1 when none can (the text ends first).
 */
function runAt(text: string, p: number, done: number, whole: boolean): number {
  const n = text.length;
  let a = p;
  while (a > done && isB64(text.charCodeAt(a - 1))) a--;
  const probe = a + MIN_BASE64 - 1;
  if (probe >= n) return -1;
  // No run through p is long enough, and none can cross `probe`.
  if (!isB64(text.charCodeAt(probe))) return probe + 1;
  let z = p + 1;
  while (z < n && isB64(text.charCodeAt(z))) z++;
  if (z - a >= MIN_BASE64) {
    const hex = whole && hexMayBeText(text, a, z);
    if (hex || leadsMayBeText(text, a, z, whole)) {
      if (whole) z = wrappedEnd(text, a, z, hex);
      let end = z;
      while (end < n && end - z < 2 && text.charCodeAt(end) === 61) end++;
      lastRun = [a, end];
    }
  }
  return z;
}

/**
 * What the first character of each group of four says about the three bytes it starts: text in
 * ASCII starts a group with a printable character (I–Z, a–f) or a tab, line feed or carriage return
 * (C, D); a UTF-8 lead or continuation byte starts it with g–z or 0–9.
 */
const ASCII_LEAD = 1;
const UTF8_LEAD = 2;
const LEAD = new Uint8Array(128);
for (const ch of 'IJKLMNOPQRSTUVWXYZabcdefCD') LEAD[ch.charCodeAt(0)] = ASCII_LEAD;
for (const ch of 'ghijklmnopqrstuvwxyz0123456789') LEAD[ch.charCodeAt(0)] = UTF8_LEAD;

/** Whether base64 character `c` may start a group of four that encodes ASCII text (see LEAD). */
export const asciiTextLead = (c: number): boolean => c < 128 && LEAD[c] === ASCII_LEAD;

/** A byte of text as the scanner decodes it: printable ASCII, a tab or a line break. */
export const printable = (v: number): boolean => (v >= 0x20 && v <= 0x7e) || v === 9 || v === 10 || v === 13;

/**
 * Whether groups of four whose first characters are `text[a]`, `text[a + 4]`, … before `z` may encode
 * text: every group starts as ASCII text does, or (`utf8`) at most a quarter start as UTF-8 does.
 * Identifiers and paths fail at once; decodeRun checks the bytes.
 */
function leadsMayBeText(text: string, a: number, z: number, utf8: boolean): boolean {
  let other = 0;
  let groups = 0;
  for (let i = a; i < z; i += 4) {
    const c = text.charCodeAt(i);
    if (c === 61) break;
    groups++;
    const lead = c < 128 ? LEAD[c] : 0;
    if (lead === ASCII_LEAD) continue;
    if (lead !== UTF8_LEAD || !utf8) return false;
    other++;
  }
  return other * 4 <= groups;
}

/**
 * Whether text[a, z) may be text written in hex (`xxd -p`, `od`, a hex dump): an even number of hex
 * digits whose every byte is printable ASCII or a tab or line break (its high digit 2–7, or 0).
 */
function hexMayBeText(text: string, a: number, z: number): boolean {
  if ((z - a) % 2 !== 0) return false;
  for (let i = a; i < z; i += 2) {
    const hi = text.charCodeAt(i);
    if (!((hi >= 50 && hi <= 55) || hi === 48) || hexVal(text.charCodeAt(i + 1)) < 0) return false;
  }
  return true;
}

/**
 * Where a base64 block that `base64` or MIME wrapped over lines ends, given its first line [a, z):
 * while a line holds a whole number of groups and the next line (after a line break and at most
 * eight spaces of indentation) goes on in base64 that may be text, the block goes on.
 */
function wrappedEnd(text: string, a: number, z: number, hex: boolean): number {
  const n = text.length;
  let start = a;
  let end = z;
  while ((end - start) % 4 === 0) {
    let j = end;
    if (text.charCodeAt(j) === 13) j++;
    if (text.charCodeAt(j) !== 10) break;
    j++;
    const indent = j;
    while (j < n && j - indent < 8 && (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9)) j++;
    let k = j;
    while (k < n && isB64(text.charCodeAt(k))) k++;
    if (k === j || !(hex ? hexMayBeText(text, j, k) : leadsMayBeText(text, j, k, true))) break;
    start = j;
    end = k;
    if (text.charCodeAt(k) === 61) break; // padding: the last line
  }
  return end;
}

/**
 * The edits that normalising a text makes, and the base64 runs in it. Native searches find the few
 * places to look at, so most texts cost a handful of scans at memchr speed and no allocation.
 * `ascii` (the caller knows the text has no character above U+007F) skips the search for invisibles.
 */
const NOTHING: { edits: undefined; runs: undefined } = { edits: undefined, runs: undefined };

export function survey(
  text: string,
  ascii = false,
  whole = true,
): { edits: Edit[] | undefined; runs: [number, number][] | undefined } {
  // Short texts (ids, names, most enum-like values) without anything to decode: one cheap pass.
  if (text.length < MIN_BASE64) {
    let special = false;
    for (let i = 0; i < text.length && !special; i++) {
      const c = text.charCodeAt(i);
      special = c === 37 || c === 92 || c === 38 || c === 10 || c === 13 || c >= 0x80;
    }
    if (!special) return NOTHING;
  }
  const found = FOUND;
  found.edits = undefined;
  found.sorted = true;
  if (!ascii) {
    INVISIBLE_RE.lastIndex = 0;
    for (let m = INVISIBLE_RE.exec(text); m !== null; m = INVISIBLE_RE.exec(text)) {
      const c = text.charCodeAt(m.index);
      if (c < 0xff01 || c > 0xff5e) add(found, { start: m.index, end: m.index + 1, text: '' });
      else if (WORTH[c - 0xfee0] === 1)
        add(found, { start: m.index, end: m.index + 1, text: String.fromCharCode(c - 0xfee0) });
    }
  }
  // Each search reads the whole text: a text without a backslash has no JSON escape to look for.
  const escapes = text.indexOf('\\') !== -1;
  if (escapes || text.indexOf('%') !== -1 || text.indexOf('&#') !== -1) {
    ENCODED_RE.lastIndex = 0;
    for (let m = ENCODED_RE.exec(text); m !== null; m = ENCODED_RE.exec(text))
      add(found, decodeAt(text, m.index));
  }
  // A line is hard-wrapped only when it is long: lines shorter than that are passed over unread.
  let previous = -1;
  for (let i = text.indexOf('\n'); i >= 0; previous = i, i = text.indexOf('\n', i + 1)) {
    const cr = i > 0 && text.charCodeAt(i - 1) === 13 ? 1 : 0;
    if (i - cr - 1 - previous < MIN_WRAPPED_LINE) continue;
    if (isToken(text.charCodeAt(i - cr - 1))) add(found, joinAt(text, i - cr, 1 + cr));
  }
  // Line breaks written as JSON escapes, in text that is itself JSON-encoded.
  for (let i = escapes ? text.indexOf('\\n') : -1; i >= 0; i = text.indexOf('\\n', i + 2)) {
    const cr = i > 1 && text.charCodeAt(i - 1) === 114 && text.charCodeAt(i - 2) === 92 ? 2 : 0;
    if (i - cr > 0 && isToken(text.charCodeAt(i - cr - 1))) add(found, joinAt(text, i - cr, 2 + cr));
  }
  let edits = found.edits as Edit[] | undefined;
  if (edits !== undefined && !found.sorted) {
    const list = edits.sort((x, y) => x.start - y.start);
    edits = list.filter((e, k) => k === 0 || e.start >= list[k - 1].end);
  }
  const runs = base64Runs(text, whole);
  return edits === undefined && runs === undefined ? NOTHING : { edits, runs };
}

interface Found {
  edits: Edit[] | undefined;
  sorted: boolean;
}

/** survey's working state, reused (survey never runs inside itself). */
const FOUND: Found = { edits: undefined, sorted: true };

function add(found: Found, e: Edit | undefined): void {
  if (e === undefined) return;
  if (found.edits === undefined) found.edits = [];
  const edits = found.edits;
  const last = edits[edits.length - 1];
  if (last !== undefined && e.start < last.end) {
    if (e.start >= last.start) return; // inside an edit already made
    found.sorted = false;
  }
  edits.push(e);
}

/** Applies the edits to text[from, to) (edits all inside it), with the map back to the original. */
function applyEdits(
  text: string,
  from: number,
  to: number,
  edits: Edit[],
  span?: readonly [number, number],
): View {
  let out = '';
  let at = from;
  for (const e of edits) {
    out += text.slice(at, e.start) + e.text;
    at = e.end;
  }
  out += text.slice(at, to);
  return new LazyView(out, from, to, edits, span);
}

/**
 * Views of the text around its edits: each cluster of nearby edits with CONTEXT characters either
 * side, the edits applied. A finding counts only where it covers an edit (the text's own scan reports
 * the rest).
 */
function editViews(text: string, edits: Edit[], out: View[]): void {
  let i = 0;
  while (i < edits.length && out.length < MAX_VIEWS) {
    let j = i;
    while (j + 1 < edits.length && edits[j + 1].start - edits[j].end <= 2 * CONTEXT) j++;
    const from = Math.max(0, edits[i].start - CONTEXT);
    const to = Math.min(text.length, edits[j].end + CONTEXT);
    out.push(applyEdits(text, from, to, edits.slice(i, j + 1)));
    i = j + 1;
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The decoded text of a base64 run (line breaks and indentation of a wrapped block dropped) when it
 * decodes to printable ASCII or (`whole`, a whole text) valid UTF-8 without control characters; in a
 * whole text, a run that is text written in hex is decoded as hex. Undefined otherwise.
 */
function decodeRun(run: string, whole: boolean): string | undefined {
  const body = run.replace(/\s+/g, '').replace(/=+$/, '');
  if (whole && hexMayBeText(body, 0, body.length)) return decodeHex(body);
  // Checked before decoding anything.
  if (!leadsMayBeText(body, 0, body.length, whole)) return undefined;
  const std = /[+/]/.test(body);
  const url = /[_-]/.test(body);
  if (std && url) return undefined;
  if (body.length % 4 === 1) return undefined;
  const bytes = Buffer.from(body, url ? 'base64url' : 'base64');
  if (bytes.length < 12) return undefined;
  let high = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b >= 0x80) high = true;
    else if (!printable(b)) return undefined;
  }
  if (!high) return bytes.toString('latin1');
  if (!whole) return undefined;
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Text written in hex (hexMayBeText), decoded, when every byte is printable; undefined otherwise. */
function decodeHex(body: string): string | undefined {
  const bytes = Buffer.from(body, 'hex');
  if (bytes.length < 12) return undefined;
  for (let i = 0; i < bytes.length; i++) if (!printable(bytes[i])) return undefined;
  return bytes.toString('latin1');
}

/**
 * The decoded base64 runs of `text`. With `map` (`text` is an edited view; map is its map back to the
 * original), only runs an edit broke up (invisibles inside base64), placed at their original span.
 */
function base64Views(
  text: string,
  runs: [number, number][],
  whole: boolean,
  out: View[],
  map?: Int32Array,
): void {
  for (const [a, z] of runs) {
    if (out.length >= MAX_VIEWS) return;
    const from = map === undefined ? a : map[a];
    const to = map === undefined ? z : map[z];
    if (map !== undefined && to - from === z - a) continue; // the text's own run, decoded already
    const decoded = decodeRun(text.slice(a, z), whole);
    if (decoded === undefined) continue;
    out.push(new LazyView(decoded, from, from, undefined, [from, to]));
    // Encoded inside the encoding (URL-encoding, invisibles, base64 again): one more level.
    const { edits: inner, runs: nested } = survey(decoded, false, whole);
    if (inner) out.push(applyEdits(decoded, 0, decoded.length, inner, [from, to]));
    for (const [b, y] of nested ?? []) {
      const twice = decodeRun(decoded.slice(b, y), whole);
      if (twice !== undefined && out.length < MAX_VIEWS)
        out.push(new LazyView(twice, from, from, undefined, [from, to]));
    }
  }
}

const NO_VIEWS: readonly View[] = [];

/**
 * The normalised views of `text` worth scanning besides it (usually none). `ascii`: the caller knows
 * the text has no character above U+007F. `whole` false (a streamed answer's window, whose hold-back
 * follows one line of base64 in ASCII, stream.ts): base64 wrapped over lines or encoding UTF-8 is
 * not decoded.
 */
export function views(text: string, ascii = false, whole = true): readonly View[] {
  const { edits, runs } = survey(text, ascii, whole);
  if (edits === undefined && runs === undefined) return NO_VIEWS;
  const out: View[] = [];
  if (edits) {
    editViews(text, edits, out);
    // Base64 that the edits made whole again (invisibles or encodings inside a run); not in a stream's
    // window, whose hold-back follows unbroken runs.
    for (let k = 0, n = whole ? out.length : 0; k < n; k++) {
      const edited = base64Runs(out[k].text, whole);
      if (edited) base64Views(out[k].text, edited, whole, out, out[k].map);
    }
  }
  if (runs) base64Views(text, runs, whole, out);
  return out.length === 0 ? NO_VIEWS : out;
}

/** The whole text normalised (edits applied), or undefined when nothing changes. */
export function cleanView(text: string): View | undefined {
  const { edits } = survey(text);
  return edits ? applyEdits(text, 0, text.length, edits) : undefined;
}

/**
 * Matches of `det` in `text` and in its normalised views. A view's match is reported at the original
 * characters it came from, unless the text's own scan already reported that rule there.
 */
export function scanText(det: TextDetector, text: string, vs: readonly View[] = views(text)): Match[] {
  return withViews(det, det.scan(text), vs);
}

/**
 * Where the view text up to `end` ends in the original: after the last character's original — all of
 * an encoding (`%53`, `\u0053`) when that character was decoded from one.
 */
function originalEnd(v: View, end: number): number {
  const last = v.map[end - 1];
  if (v.edited !== undefined) for (const [a, z] of v.edited) if (a === last) return z;
  return last + 1;
}

/**
 * `found` (the matches of `det` in a text) with the matches in the text's normalised views `vs` added,
 * each at the original characters it came from, unless `found` already reports that rule there.
 */
export function withViews(det: TextDetector, found: Match[], vs: readonly View[]): Match[] {
  if (vs.length === 0) return found;
  let out: Match[] | undefined;
  for (const v of vs) {
    for (const m of det.scan(v.text)) {
      const start = v.span ? v.span[0] : v.map[m.start];
      const end = v.span ? v.span[1] : originalEnd(v, m.end);
      if (v.edited && !v.edited.some(([a, z]) => start < z && a < end)) continue;
      const all = out ?? found;
      if (
        all.some(
          (f) => f.start < end && start < f.end && (f.rule === m.rule || (f.start <= start && end <= f.end)),
        )
      )
        continue;
      out ??= found.slice();
      out.push({ ...m, start, end });
    }
  }
  if (out === undefined) return found;
  return out.sort((a, b) => a.start - b.start);
}
