// Shapes shared by the detectors, the cache and the chain runner.
import type { GuardrailFinding } from '../policy/decision.ts';

/** One hit inside one text. Offsets are UTF-16 code units into that text, end exclusive. */
export interface Match {
  rule: string;
  /** Detector family: secret, pii, custom, size, external. */
  type: string;
  start: number;
  end: number;
  /** Salted hash of `text.slice(start, end)`; see fingerprint.ts. */
  fingerprint: string;
  /** Set when the hit lies inside a JSON document carried as a string (tool-call arguments): the path of the value within it, e.g. `.command` or `.env[0]`. */
  sub?: string;
}

/**
 * A finding as the chain runner reports it: the policy contract plus where the match sits inside the
 * text at `path` (absent for findings about the whole call, such as size limits). Offsets are locations,
 * never content; `redactRequest` uses them.
 */
export interface ScanFinding extends GuardrailFinding {
  start?: number;
  end?: number;
  /**
   * For a match across adjacent texts (a credential split over two messages or blocks): each place
   * it covers. `path`, `start` and `end` then name the first.
   */
  parts?: { path: string; start: number; end: number }[];
}

/** A detector that looks at one text at a time, so its results can be cached per text. */
export interface TextDetector {
  /** Identifies the detector and its configuration: equal signatures give equal results for equal text. */
  readonly signature: string;
  /** Longest match it can report (bounded), for the stream scanner's carry-over window. */
  readonly maxMatchLength: number;
  scan(text: string): Match[];
  /**
   * Optional, for the stream scanner: a function that gives `scan(window)` for a window over one
   * streamed text (`window` holds its characters from absolute position `base` on, and between calls
   * only gains characters at its end and loses some at its start), reading only what arrived since
   * its last call where the detector can.
   */
  streamScanner?(): StreamScan;
  /**
   * Optional, for reading adjacent texts as one (a credential split across two messages): whether a
   * match could start in `tail` (the end of one text) and run on into `head` (the start of the next).
   * Detectors without it are not run across texts.
   */
  seam?(tail: string, head: string): boolean;
  /**
   * Optional, with `seam`: the matches in `joint` (the end of one text followed by the start of the
   * next, meeting at `at`) that may run across `at`, and possibly others; without it, `scan(joint)`.
   * When present, `seam` is not asked first.
   */
  scanSeam?(joint: string, at: number): Match[];
  /**
   * Optional, for the stream scanner: where in a stream's text so far a match may still be in progress
   * (`window.length` when nowhere). Detectors without it hold back their longest match.
   */
  pendingFrom?(window: string): number;
  /** Optional check of a value together with the object key that holds it (`{"password": "…"}`). */
  scanKeyed?(key: string, text: string): Match[];
}

export type Stage = 'request' | 'response';

/**
 * A detector's scanner for one streamed text (see TextDetector.streamScanner): `fresh`, when given, is
 * the text the window gained since the last call (its end). Optionally it also tells
 * `pendingFrom(window)` for the same window from the state it keeps, without reading the window again.
 */
export type StreamScan = ((window: string, base: number, fresh?: string) => Match[]) & {
  pendingFrom?(window: string, base: number): number;
};
