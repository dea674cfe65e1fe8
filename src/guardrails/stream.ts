// Scanning a streamed response as it passes. Each text (per path: a choice's content, a tool call's
// arguments, a content block) keeps a carry-over window — the chain's longest match, bounded — so a
// secret split across deltas is still seen whole. A match is reported once text has arrived beyond it
// (it cannot grow or change any more); `end()` reports what is left. A match that keeps growing holds
// the window open from its start, up to MAX_CARRY characters, after which it is reported as it stands.
//
// Offsets in findings are absolute within the streamed text at that path. External steps see the
// complete texts at `end()` (MAX_EXTERNAL_CHARS of them in all), so with one that can block or redact
// nothing is releasable before then; size steps count bytes as they pass.
//
// Normalisation (normalise.ts) runs on a window only while something in it could need it — a
// character outside ASCII, `%` or `\`, a line break inside a long line of token characters, a run of
// base64 long enough to hide a credential — so plain answers pay nothing for it; while it runs, text a
// match in the normalised window may still include is held back too. A text that starts where
// another stopped (the next content block) is read together with the end of that one, so a
// credential split across them is found.
import type { Surface } from '../policy/decision.ts';
import type { CompiledChain, CompiledStep } from './compile.ts';
import { runExternal } from './external.ts';
import { finding, sizeFindings } from './findings.ts';
import { joinAt, joinable, joinMatches } from './join.ts';
import { asciiTextLead, cleanView, printable, type View, views, withViews } from './normalise.ts';
import type { ScanResult } from './scan.ts';
import { streamDeltas } from './surfaces.ts';
import type { ScanFinding, StreamScan } from './types.ts';

/** Characters past a match that must have arrived before it is reported (covers detectors' look-ahead). */
const LOOKAHEAD = 16;
const MAX_CARRY = 16 * 1024;
const MAX_EXTERNAL_CHARS = 1024 * 1024;
const NONE: ScanFinding[] = Object.freeze([]) as unknown as ScanFinding[];
const NO_VIEWS: readonly View[] = [];

export interface ResponseScanner {
  /** Feeds one text delta for `path`; returns the findings that became certain. */
  push(path: string, delta: string): ScanFinding[];
  /** Feeds one parsed SSE event (its `data:` JSON) of the chain's surface. */
  pushEvent(event: unknown): ScanFinding[];
  /**
   * Where a match still growing at `path` starts (an offset in that path's streamed text), Infinity
   * when there is none: text from there on may belong to a secret not yet decided (a private key block
   * arrives over many deltas), so a caller must not release it yet.
   */
  pendingFrom(path: string): number;
  /**
   * How much of the text streamed at `path` can be released now: everything before the earliest place
   * a match may still be in progress (a keyword whose match is still arriving, a keyword cut off at
   * the end, a match found but not yet certain). Detectors that cannot tell hold back their longest
   * match. Infinity when nothing has streamed at `path`.
   */
  releasableTo(path: string): number;
  /** Flushes every window and runs external steps over the full texts (synchronous unless there are any). */
  end(): ScanResult | Promise<ScanResult>;
}

interface PathState {
  buf: string;
  /** Per text step, what scans the window (incrementally where the detector can). */
  scanners: StreamScan[];
  /** Absolute offset of buf[0] in the streamed text. */
  base: number;
  /** Reported matches: key → absolute span, pruned as the window moves on. */
  reported: Map<string, { start: number; end: number }>;
  full: string;
  /** Absolute start of a match still growing (not yet reported); Infinity when none. */
  pendingAt: number;
  /** releasableTo's answer until the next delta; undefined when not computed. */
  releasable: number | undefined;
  /** Absolute position of the latest character that calls for normalising the window; -1 when none. */
  dirtyAt: number;
  /** Base64 characters at the end of the text so far, and the length of its current line. */
  run: number;
  line: number;
  /** Whether that run may still decode to text (what the scanner decodes a run into): see base64Step. */
  runAlive: boolean;
  /** The run's alphabet so far: 0 not yet told, 1 standard (`+/`), 2 URL-safe (`-_`). */
  runAlphabet: number;
  /** The bits of the run's current group of four characters. */
  runBits: number;
  /**
   * The path whose text came just before this one began, and this text's first SEAM_HEAD characters
   * when the window moved past them before they were read with it (else they are the window's).
   */
  after: string | undefined;
  head: string | undefined;
  seamChecked: boolean;
}

/** How far past the last character calling for it a window is still normalised (normalise.ts CONTEXT). */
const NORMALISE_REACH = 256 + LOOKAHEAD;
/** A run of base64 this long may be an encoded credential (normalise.ts MIN_BASE64). */
const MIN_BASE64 = 28;
/** Only lines at least this long are taken to be hard-wrapped (normalise.ts MIN_WRAPPED_LINE). */
const MIN_WRAPPED_LINE = 40;
/**
 * The end of a window that normalising it later may change: an encoding cut off (`%2`, `%254`, `\u00`,
 * `\x4`, `&#6`, `&#x4`), or a line break with at most the start of a token after it (a hard-wrapped
 * token may go on there).
 */
const UNFINISHED =
  /(?:%(?:25[0-9A-Fa-f]?|[0-9A-Fa-f])?|\\(?:u[0-9A-Fa-f]{0,3}|x[0-9A-Fa-f]?)?|&(?:#(?:[0-9]{0,3}|[xX][0-9A-Fa-f]{0,2}))?|(?:\r?\n|\r|\\r\\n|\\r|\\n)[ \t]{0,8}[A-Za-z0-9+/=_-]{0,19})$/;
/** Characters of a text read with the end of the one before it (join.ts SIDE). */
const SEAM_HEAD = 256;

/** Base64 digit values (standard and URL-safe alphabets), -1 for any other character. */
const B64 = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((ch, v) => {
  B64[ch.charCodeAt(0)] = v;
});
B64[45] = 62; // -
B64[95] = 63; // _

/**
 * Takes base64 character `c` as character `k` (0-based) of the text's trailing run; whether the run
 * may still decode to text. In a streamed window the scanner decodes a run only when every group of
 * four starts with a character in I–Z, a–f, C or D (printable ASCII, tab, line feed, carriage
 * return), every byte is printable and the two alphabets are not mixed (normalise.ts decodeRun, with
 * `whole` false), so a run that breaks one of these can never hide a credential it finds.
 */
function base64Step(st: PathState, c: number, k: number): boolean {
  const pos = k & 3;
  if (pos === 0 && !asciiTextLead(c)) return false;
  if (c === 43 || c === 47 || c === 45 || c === 95) {
    const alphabet = c === 43 || c === 47 ? 1 : 2;
    if (st.runAlphabet !== 0 && st.runAlphabet !== alphabet) return false;
    st.runAlphabet = alphabet;
  }
  const bits = pos === 0 ? B64[c] : (st.runBits << 6) | B64[c];
  st.runBits = bits;
  // Each byte is known once the character that completes it arrives.
  if (pos === 1) return printable(bits >> 4);
  if (pos === 2) return printable((bits >> 2) & 0xff);
  if (pos === 3) return printable(bits & 0xff);
  return true;
}

/** Reads a delta: updates the text's base64 run and line length; whether the window needs normalising. */
function needsNormalising(st: PathState, delta: string): boolean {
  let dirty = false;
  let run = st.run;
  let line = st.line;
  for (let i = 0; i < delta.length; i++) {
    const c = delta.charCodeAt(i);
    if (c === 10 || c === 13) {
      if (run > 0 && line >= MIN_WRAPPED_LINE) dirty = true;
      line = 0;
      run = 0;
      continue;
    }
    line++;
    if (c >= 0x80 || c === 37 || c === 92 || c === 38) dirty = true;
    if (c < 128 && B64[c] >= 0) {
      if (run === 0) {
        st.runAlive = true;
        st.runAlphabet = 0;
      }
      if (st.runAlive) st.runAlive = base64Step(st, c, run);
      if (++run >= MIN_BASE64) dirty = true;
    } else run = 0; // `=` padding ends a run too
  }
  st.run = run;
  st.line = line;
  return dirty;
}

export function createResponseScanner(chain: CompiledChain, surface: Surface): ResponseScanner {
  const steps = chain.steps.filter((s) => s.stages.has('response'));
  const textSteps = steps.filter((s) => s.text !== undefined);
  const sizeSteps = steps.filter((s) => s.size !== undefined);
  const externalSteps = steps.filter((s) => s.external !== undefined);
  const externalDecides = externalSteps.some((s) => s.action !== 'log');
  const window = chain.streamWindow + LOOKAHEAD;
  const incremental = textSteps.every((step) => step.text!.streamScanner !== undefined);
  const states = new Map<string, PathState>();
  const sizeReported = new Set<string>();
  let bytes = 0;
  let externalChars = 0;
  let ended = false;
  const seamSteps = textSteps.filter((step) => step.text!.seam !== undefined);
  /** The path the latest delta went to. */
  let last: string | undefined;

  /** Findings across the seam between the text before `st` began and the start of `st`'s text. */
  const seam = (path: string, st: PathState): ScanFinding[] => {
    st.seamChecked = true;
    const before = st.after === undefined ? undefined : states.get(st.after);
    const head = st.head ?? st.buf.slice(0, SEAM_HEAD);
    if (before === undefined || !joinable(before.buf, head)) return NONE;
    let out: ScanFinding[] | undefined;
    for (const step of seamSteps) {
      for (const m of joinMatches(step.text!, before.buf, head)) {
        const shifted = { ...m, start: before.base + m.start, end: before.base + m.end };
        const f = joinAt(chain, step, 'response', st.after!, path, before.buf, head, shifted);
        f.parts![0] = { ...f.parts![0], end: f.parts![0].end + before.base };
        out ??= [];
        out.push(f);
      }
    }
    return out ?? NONE;
  };

  /**
   * While a window is normalised: where a match in its normalised text may still be in progress (as an
   * original offset). An encoding cut off at the end (`%4`, `\u00`) or a line break there (a
   * hard-wrapped token may go on) is held, and the text before it is read as if it ended there.
   */
  const normalisedHold = (st: PathState): number => {
    const open = UNFINISHED.exec(st.buf);
    const end = open === null ? st.buf.length : open.index;
    let r = open === null ? Number.POSITIVE_INFINITY : st.base + end;
    const text = end === st.buf.length ? st.buf : st.buf.slice(0, end);
    const clean = cleanView(text);
    const read = clean?.text ?? text;
    for (const step of textSteps) {
      const det = step.text!;
      if (det.pendingFrom === undefined) continue;
      const p = det.pendingFrom(read);
      if (p < read.length) r = Math.min(r, st.base + (clean === undefined ? p : clean.map[p]));
    }
    return r;
  };

  const scan = (path: string, st: PathState, final: boolean, fresh?: string): ScanFinding[] => {
    let out: ScanFinding[] | undefined;
    const certainEnd = final ? Number.POSITIVE_INFINITY : st.buf.length - LOOKAHEAD;
    let pendingFrom = st.buf.length;
    if (st.dirtyAt >= 0 && st.dirtyAt < st.base + st.buf.length - NORMALISE_REACH) st.dirtyAt = -1;
    const vs = st.dirtyAt >= 0 ? views(st.buf, false, false) : NO_VIEWS;
    for (let i = 0; i < textSteps.length; i++) {
      const step = textSteps[i];
      const raw = st.scanners[i](st.buf, st.base, fresh);
      for (const m of vs.length === 0 ? raw : withViews(step.text!, raw, vs)) {
        const absStart = st.base + m.start;
        const key = `${step.index}:${m.rule}:${absStart}`;
        if (st.reported.has(key)) continue;
        if (m.end <= certainEnd) {
          st.reported.set(key, { start: absStart, end: st.base + m.end });
          out ??= [];
          out.push(finding(chain, step, 'response', path, { ...m, start: absStart, end: st.base + m.end }));
        } else {
          pendingFrom = Math.min(pendingFrom, m.start);
        }
      }
    }
    st.pendingAt = pendingFrom < st.buf.length ? st.base + pendingFrom : Number.POSITIVE_INFINITY;
    // Detectors that read only new text let the window grow to twice its size before it is cut: cutting
    // copies the window, so it happens once per window's worth of text instead of at every delta.
    if (!final && st.buf.length > (incremental ? 2 * window : window)) {
      let cut = Math.max(0, st.buf.length - window);
      // Never keep the tail of a reported match: rescanned alone it could look like a new one.
      for (let moved = st.reported.size > 0; moved; ) {
        moved = false;
        for (const r of st.reported.values()) {
          if (st.base + cut > r.start && st.base + cut < r.end) {
            cut = r.end - st.base;
            moved = true;
          }
        }
      }
      cut = Math.min(cut, pendingFrom);
      if (st.buf.length - cut > MAX_CARRY) {
        // A match still growing past the bound: report it as it stands and let the window move on.
        const now = scan(path, st, true);
        if (now.length > 0) {
          out ??= [];
          out.push(...now);
        }
        cut = st.buf.length - window;
      }
      if (cut > 0) {
        if (!st.seamChecked && st.base === 0) st.head = st.buf.slice(0, SEAM_HEAD);
        st.buf = st.buf.slice(cut);
        st.base += cut;
        if (st.reported.size > 0)
          for (const [k, r] of st.reported) if (r.end <= st.base) st.reported.delete(k);
      }
    }
    return out ?? NONE;
  };

  const push = (path: string, delta: string): ScanFinding[] => {
    if (ended) throw new Error('response scanner: push after end()');
    if (delta.length === 0) return [];
    let st = states.get(path);
    if (!st) {
      st = {
        buf: '',
        scanners: textSteps.map((step) => {
          const det = step.text!;
          return det.streamScanner?.() ?? ((window: string) => det.scan(window));
        }),
        base: 0,
        reported: new Map(),
        full: '',
        pendingAt: Number.POSITIVE_INFINITY,
        releasable: undefined,
        dirtyAt: -1,
        run: 0,
        line: 0,
        runAlive: false,
        runAlphabet: 0,
        runBits: 0,
        head: undefined,
        after: last,
        seamChecked: last === undefined || seamSteps.length === 0,
      };
      states.set(path, st);
    }
    last = path;
    if (needsNormalising(st, delta)) st.dirtyAt = st.base + st.buf.length + delta.length - 1;
    st.buf += delta;
    st.releasable = undefined;
    if (externalSteps.length > 0 && externalChars < MAX_EXTERNAL_CHARS) {
      const take = delta.slice(0, MAX_EXTERNAL_CHARS - externalChars);
      st.full += take;
      externalChars += take.length;
    }
    let out = textSteps.length > 0 ? scan(path, st, false, delta) : NONE;
    if (!st.seamChecked && st.base + st.buf.length >= SEAM_HEAD) {
      const joined = seam(path, st);
      if (joined.length > 0) out = out === NONE ? joined : [...out, ...joined];
    }
    if (sizeSteps.length > 0) {
      bytes += Buffer.byteLength(delta, 'utf8');
      for (const step of sizeSteps) {
        for (const f of sizeFindings(chain, step, 'response', bytes)) {
          const key = `${step.index}:${f.rule}`;
          if (sizeReported.has(key)) continue;
          sizeReported.add(key);
          if (out === NONE) out = [];
          out.push(f);
        }
      }
    }
    return out;
  };

  return {
    push,
    pendingFrom(path: string): number {
      return states.get(path)?.pendingAt ?? Number.POSITIVE_INFINITY;
    },
    releasableTo(path: string): number {
      const st = states.get(path);
      if (st === undefined) return Number.POSITIVE_INFINITY;
      // An external service decides on the whole answer: none of it goes out before its verdict.
      if (externalDecides) return 0;
      if (st.releasable !== undefined) return st.releasable;
      let r = Math.min(st.pendingAt, st.base + st.buf.length);
      for (let i = 0; i < textSteps.length; i++) {
        const det = textSteps[i].text!;
        const scanner = st.scanners[i];
        const from =
          scanner.pendingFrom !== undefined
            ? scanner.pendingFrom(st.buf, st.base)
            : det.pendingFrom !== undefined
              ? det.pendingFrom(st.buf)
              : st.buf.length - det.maxMatchLength - LOOKAHEAD;
        r = Math.min(r, st.base + Math.max(0, from));
      }
      if (st.dirtyAt >= 0) r = Math.min(r, normalisedHold(st));
      // A run of base64 still arriving may decode to a credential once it is whole: held from its
      // first character for as long as it may still decode to text.
      if (st.run > 0 && st.runAlive) r = Math.min(r, st.base + Math.max(0, st.buf.length - st.run));
      st.releasable = r;
      return r;
    },
    pushEvent(event: unknown): ScanFinding[] {
      const out: ScanFinding[] = [];
      for (const d of streamDeltas(surface, event)) out.push(...push(d.path, d.text));
      return out;
    },
    end(): ScanResult | Promise<ScanResult> {
      if (ended) return { findings: [], errors: [] };
      ended = true;
      const findings: ScanFinding[] = [];
      for (const [path, st] of states) findings.push(...scan(path, st, true));
      for (const [path, st] of states) if (!st.seamChecked) findings.push(...seam(path, st));
      const errors: ScanResult['errors'] = [];
      if (externalSteps.length === 0) return { findings, errors };
      const texts = [...states]
        .map(([path, st]) => ({ path, text: st.full }))
        .filter((t) => t.text.length > 0);
      return Promise.all(
        externalSteps.map((step: CompiledStep) => runExternal(chain, step, 'response', surface, texts)),
      ).then((results) => {
        for (const r of results) {
          findings.push(...r.findings);
          if (r.error) errors.push(r.error);
        }
        return { findings, errors };
      });
    },
  };
}
