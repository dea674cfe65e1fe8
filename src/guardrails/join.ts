// Two adjacent texts of a body (consecutive messages, blocks or fields) read as one, so a credential
// split across them is still found. Only the end of the first and the start of the second are joined,
// and only matches that straddle the seam are kept (the rest each text's own scan reports). A finding
// names both places; redaction edits both.
import type { CompiledChain, CompiledStep } from './compile.ts';
import { finding } from './findings.ts';
import { scanText, views, withViews } from './normalise.ts';
import type { Match, ScanFinding, Stage, TextDetector } from './types.ts';

/** Characters taken from each side of the seam. */
const SIDE = 256;
/** Room before the last token of the first text for a name and an assignment. */
const NAME_ROOM = 48;

/** A match across a seam: `start` in the first text, `endInSecond` in the second. */
export interface JoinMatch extends Match {
  endInSecond: number;
}

const ws = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;
// The first text may end in the middle of a token or just after its name (`password=`); the second
// must start with token characters.
const tokenish = (c: number) =>
  (c >= 48 && c <= 57) ||
  (c >= 65 && c <= 90) ||
  (c >= 97 && c <= 122) ||
  c === 43 ||
  c === 47 ||
  c === 95 ||
  c === 45;
const lastTail = (c: number) => tokenish(c) || c === 61 || c === 58 || c === 34 || c === 39;

function trimmedEnd(a: string): number {
  let e = a.length;
  while (e > 0 && ws(a.charCodeAt(e - 1))) e--;
  return e;
}

function trimmedStart(b: string): number {
  let s = 0;
  while (s < b.length && ws(b.charCodeAt(s))) s++;
  return s;
}

/** Whether a credential could run from the end of `a` into the start of `b` (cheap; no allocation). */
export function joinable(a: string, b: string): boolean {
  const e = trimmedEnd(a);
  const s = trimmedStart(b);
  return e > 0 && s < b.length && lastTail(a.charCodeAt(e - 1)) && tokenish(b.charCodeAt(s));
}

const NONE: JoinMatch[] = [];

/** Matches of `det` over the seam between `a` and `b`; `ascii`: the caller knows both are ASCII. */
export function joinMatches(det: TextDetector, a: string, b: string, ascii = false): JoinMatch[] {
  if (det.seam === undefined) return NONE;
  const aEnd = trimmedEnd(a);
  const bStart = trimmedStart(b);
  // A match across the seam runs through the first text's last stretch of non-space characters, after
  // at most a name and an assignment (`password = `): that stretch and a little before it.
  let run = 0;
  while (run < SIDE && aEnd - run > 0 && !ws(a.charCodeAt(aEnd - run - 1))) run++;
  const from = Math.max(0, aEnd - Math.min(SIDE, run + NAME_ROOM));
  const tail = a.slice(from, aEnd);
  const head = b.slice(bStart, bStart + SIDE);
  if (det.scanSeam === undefined && !det.seam(tail, head)) return NONE;
  const joint = tail + head;
  const vs = views(joint, ascii || Buffer.byteLength(joint, 'utf8') === joint.length);
  const found =
    det.scanSeam === undefined
      ? scanText(det, joint, vs)
      : withViews(det, det.scanSeam(joint, tail.length), vs);
  const out: JoinMatch[] = [];
  for (const m of found) {
    if (m.start >= tail.length || m.end <= tail.length) continue;
    out.push({ ...m, start: from + m.start, end: aEnd, endInSecond: bStart + (m.end - tail.length) });
  }
  return out;
}

/** The finding for a match across the seam between text `a` at `pathA` and text `b` at `pathB`. */
export function joinAt(
  chain: CompiledChain,
  step: CompiledStep,
  stage: Stage,
  pathA: string,
  pathB: string,
  a: string,
  b: string,
  m: JoinMatch,
): ScanFinding {
  const f = finding(chain, step, stage, pathA, m);
  const bStart = trimmedStart(b);
  f.parts = [
    { path: pathA, start: m.start, end: trimmedEnd(a) },
    { path: pathB, start: bStart, end: m.endInSecond },
  ];
  return f;
}
