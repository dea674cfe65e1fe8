// The secrets detector: one keyword pass over the text, then each rule's regular expression only at
// the places its keywords occur, then validation (entropy, checksums, placeholders) and overlap
// resolution (a specific rule beats a generic one on the same characters).
import { shannonEntropy as shannon } from '../entropy.ts';
import type { Fingerprinter } from '../fingerprint.ts';
import { KeywordIndex, keywordTail } from '../keyword-index.ts';
import { type MatchChars, matchChars, partialMatcher, trailingRun } from '../partial.ts';
import { maxMatchLength, parseRegex } from '../regex-safety.ts';
import type { Match, StreamScan, TextDetector } from '../types.ts';
import { familyOfKey, metaName, plausibleSecretValue } from './generic.ts';
import type { SecretRule } from './rule-kit.ts';
import { SECRET_RULES } from './rules.ts';

export const DEFAULT_MIN_ENTROPY = 3;
// Random 32-hex-digit keys average 3.7 bits/char and occasionally dip near 3; placeholders sit far below.
const SPECIFIC_MIN_ENTROPY = 2.5;
const MAX_WINDOW = 4096;
/** Partial-match tests one pendingFrom call may run. */
const MAX_PARTIAL_TESTS = 64;

const NO_MATCHES: Match[] = Object.freeze([]) as unknown as Match[];

// Documentation placeholders (AWS's AKIAIOSFODNN7EXAMPLE, `sk_live_xxxxxxxx…`).
const PLACEHOLDER = /example|placeholder|dummy|redacted|x{8,}|\*{4,}|0{16,}/i;

interface CompiledRule {
  rule: SecretRule;
  index: number;
  re: RegExp;
  offset: number;
  maxLength: number;
  /** ASCII characters that may not precede a match (from the rule's leading lookbehind), if any. */
  blockedBefore: Uint8Array | undefined;
  /** Matches where the text from there on could still grow into a match (built on first use). */
  partial?: RegExp;
}

const LEADING_LOOKBEHIND = /^\(\?:\(\?<!\[([^\]]+)\]\)\|\(\?<=\\\\\[nrtbf\]\)\)/;

/**
 * The rule's leading `lead(...)` lookbehind as a lookup table, so the many keyword hits inside longer
 * words (`sk` in `task`, runs of `AAAA…`) are dismissed without running the rule's regex.
 */
function blockedBefore(pattern: string): Uint8Array | undefined {
  const m = LEADING_LOOKBEHIND.exec(pattern);
  if (!m) return undefined;
  const cls = new RegExp(`[${m[1]}]`);
  const table = new Uint8Array(128);
  for (let c = 0; c < 128; c++) table[c] = cls.test(String.fromCharCode(c)) ? 1 : 0;
  return table;
}

/** Whether the character before `at` rules a match out (an escape like `\n` before it does not). */
function blocked(table: Uint8Array, text: string, at: number): boolean {
  if (at === 0) return false;
  const c = text.charCodeAt(at - 1);
  if (c >= 128 || table[c] === 0) return false;
  return !(at > 1 && text.charCodeAt(at - 2) === 92 && 'nrtbf'.includes(text[at - 1]));
}

/** Expands include/exclude id globs over the built-in rules; throws on a selector that matches none. */
export function selectRules(include?: readonly string[], exclude?: readonly string[]): SecretRule[] {
  const toRe = (glob: string) =>
    new RegExp(
      `^${glob
        .split('*')
        .map((p) => p.replace(/[^a-z0-9_]/g, ''))
        .join('.*')}$`,
    );
  const matching = (sel: string) => {
    const re = toRe(sel);
    const hit = SECRET_RULES.filter((r) => re.test(r.id));
    if (hit.length === 0) throw new Error(`no secret rule matches '${sel}'`);
    return new Set(hit.map((r) => r.id));
  };
  let chosen = include
    ? new Set(include.flatMap((s) => [...matching(s)]))
    : new Set(SECRET_RULES.map((r) => r.id));
  if (exclude) {
    const drop = new Set(exclude.flatMap((s) => [...matching(s)]));
    chosen = new Set([...chosen].filter((id) => !drop.has(id)));
  }
  return SECRET_RULES.filter((r) => chosen.has(r.id));
}

export class SecretsDetector implements TextDetector {
  readonly signature: string;
  readonly maxMatchLength: number;
  readonly #rules: CompiledRule[];
  readonly #index: KeywordIndex;
  /** Rule indices per keyword of the index. */
  readonly #byKeyword: number[][];
  readonly #minEntropy: number;
  readonly #fingerprint: Fingerprinter;
  readonly #enabled: Set<string>;
  readonly #maxOffset: number;
  readonly #offsetRules: CompiledRule[];
  readonly #offsetMaxLength: number;
  #offsetCharSet: MatchChars | undefined;

  constructor(rules: readonly SecretRule[], options: { minEntropy?: number; fingerprint: Fingerprinter }) {
    this.#minEntropy = options.minEntropy ?? DEFAULT_MIN_ENTROPY;
    this.#fingerprint = options.fingerprint;
    this.#enabled = new Set(rules.map((r) => r.id));
    this.#rules = rules.map((rule, index) => ({
      rule,
      index,
      re: new RegExp(rule.pattern, 'dy'),
      offset: rule.offset ?? 0,
      maxLength: Math.min(MAX_WINDOW, maxMatchLength(parseRegex(rule.pattern, ''))),
      blockedBefore: blockedBefore(rule.pattern),
    }));
    const keywords = new Map<string, number[]>();
    this.#rules.forEach((c, i) => {
      for (const kw of c.rule.keywords) {
        const k = kw.toLowerCase();
        const list = keywords.get(k) ?? [];
        if (!list.includes(i)) list.push(i);
        keywords.set(k, list);
      }
    });
    this.#index = new KeywordIndex([...keywords.keys()]);
    this.#byKeyword = [...keywords.values()];
    this.maxMatchLength = Math.max(0, ...this.#rules.map((r) => r.maxLength + r.offset));
    this.#maxOffset = Math.max(0, ...this.#rules.map((r) => r.offset));
    this.#offsetRules = this.#rules.filter((r) => r.offset > 0);
    this.#offsetMaxLength = Math.max(0, ...this.#offsetRules.map((r) => r.maxLength));
    this.signature = `secrets:${this.#minEntropy}:${[...this.#enabled].join(',')}:${options.fingerprint.saltId}`;
  }

  seam(tail: string, head: string): boolean {
    if (this.#index.touches(tail)) return true;
    // Rules whose match starts some way before their keyword (`offset`): the keyword may be in `head`.
    return this.#maxOffset > 0 && this.#index.touches(head.slice(0, this.#maxOffset + 64));
  }

  /**
   * Matches in `joint` that may cross `at`: such a match has its keyword before `at`, or at most
   * `offset` characters past it, so only that stretch is searched for keywords.
   */
  scanSeam(joint: string, at: number): Match[] {
    const reach = Math.min(joint.length, at + this.#maxOffset + this.#index.longest);
    const hits = this.#index.scan(reach === joint.length ? joint : joint.slice(0, reach));
    return this.#matches(joint, hits, at);
  }

  /**
   * For a stream: where in `window` (its text so far) a match may still be in progress — the earliest
   * place a rule's match could start and grow with the text still to come; `window.length` when none.
   * Text before it can be released: no credential can include it.
   */
  pendingFrom(window: string): number {
    const chars = this.#offsetChars();
    const run = chars === undefined ? -1 : trailingRun(window, chars, 0);
    return this.#pending(window, this.#index.scan(window), undefined, run, 0);
  }

  /**
   * The characters a match of any rule with an offset may contain (built on first use); undefined
   * when there is no such rule.
   */
  #offsetChars(): MatchChars | undefined {
    if (this.#offsetRules.length === 0) return undefined;
    if (this.#offsetCharSet === undefined) {
      const ascii = new Uint8Array(128);
      let other = false;
      for (const c of this.#offsetRules) {
        const m = matchChars(c.rule.pattern);
        for (let i = 0; i < 128; i++) ascii[i] |= m.ascii[i];
        other ||= m.other;
      }
      this.#offsetCharSet = { ascii, other };
    }
    return this.#offsetCharSet;
  }

  /**
   * pendingFrom, given the keyword occurrences in `window` and, from a stream's scan, the automaton's
   * state at its end (the keyword prefix the text ends with; else it is read from the window).
   */
  #pending(
    window: string,
    { count, hits }: { count: number; hits: Int32Array },
    atEnd: number | undefined,
    run: number,
    base: number,
  ): number {
    // A keyword cut off at the end (`gh` of `ghp_`): its match would start there. (For rules whose
    // match starts `offset` before their keyword, see the search below.)
    const state = atEnd ?? this.#index.partialStateAtEnd(window);
    let earliest = window.length - this.#index.depthOf(state);
    let tested = 0;
    for (let h = 0; h < count * 2; h += 2) {
      const pos = hits[h + 1];
      for (const ri of this.#byKeyword[hits[h]]) {
        const c = this.#rules[ri];
        const at = pos - c.offset;
        if (at < 0 || at >= earliest || window.length - at > c.maxLength) continue;
        if (c.blockedBefore !== undefined && blocked(c.blockedBefore, window, at)) continue;
        // Bounded work per call on hostile text (a keyword at every position): past the budget, a
        // candidate is taken to be alive, which only holds text back longer.
        if (++tested > MAX_PARTIAL_TESTS) {
          earliest = at;
          continue;
        }
        c.partial ??= partialMatcher(c.rule.pattern);
        c.partial.lastIndex = at;
        if (c.partial.test(window)) earliest = at;
      }
    }
    // A rule whose keyword comes `offset` characters into its match (`…AZDO`) may be arriving before
    // any of its keyword has. Such a match lies in the run of characters these rules' matches may
    // contain at the end of the text (`run`, its absolute start; -1 when there are no such rules):
    // that run is held while it is no longer than their longest match.
    if (run >= 0 && base + window.length - run <= this.#offsetMaxLength)
      earliest = Math.min(earliest, Math.max(0, run - base));
    return earliest;
  }

  get ruleIds(): string[] {
    return [...this.#enabled];
  }

  scan(text: string): Match[] {
    return this.#matches(text, this.#index.scan(text));
  }

  streamScanner(): StreamScan {
    const tail = keywordTail();
    // Only the text gained since the last call is read (`fresh`, when the caller has it apart): a window
    // with no keyword in it is never read, so a stream's growing text is not copied out flat per delta.
    // Where the run of characters a match of a rule with an offset may contain at the end of the text
    // began (absolute), kept up from the fresh text alone.
    const chars = this.#offsetChars();
    let run = chars === undefined ? -1 : 0;
    const scan: StreamScan = (window, base, fresh) => {
      if (chars !== undefined) {
        const text = fresh ?? window;
        const start = trailingRun(text, chars, 0);
        if (start > 0 || fresh === undefined) run = base + window.length - text.length + start;
      }
      return this.#matches(
        window,
        fresh === undefined
          ? this.#index.scanTail(window, base, tail)
          : this.#index.scanTail(fresh, base + window.length - fresh.length, tail, base),
      );
    };
    // The keyword occurrences, and the state at the end, are already known from the scan.
    scan.pendingFrom = (window, base) =>
      this.#pending(window, this.#index.scanTail(window, base, tail), tail.state, run, base);
    return scan;
  }

  /** The matches of the rules whose keywords occur in `text` at `hits`. */
  #matches(text: string, { count, hits }: { count: number; hits: Int32Array }, across = -1): Match[] {
    if (count === 0) return NO_MATCHES;

    // Made on the first regex match: most texts' keyword hits all fail their rule's regex.
    let found: { c: CompiledRule; start: number; end: number }[] | undefined;
    let seen: Set<number> | undefined;
    for (let h = 0; h < count * 2; h += 2) {
      const pos = hits[h + 1];
      for (const ri of this.#byKeyword[hits[h]]) {
        const c = this.#rules[ri];
        const at = pos - c.offset;
        if (at < 0 || (c.blockedBefore !== undefined && blocked(c.blockedBefore, text, at))) continue;
        c.re.lastIndex = at;
        const m = c.re.exec(text);
        if (m === null) continue;
        const span = m.indices?.groups?.s ?? m.indices![0]!;
        const key = span[0] * 1024 + ri;
        seen ??= new Set();
        if (seen.has(key)) continue;
        seen.add(key);
        if (c.rule.generic && metaName(text.slice(m.index, span[0]).split(/[\s"'`:=\]\\]/)[0])) continue;
        if (!this.#accept(c.rule, text.slice(span[0], span[1]))) continue;
        found ??= [];
        found.push({ c, start: span[0], end: span[1] });
      }
    }
    if (found === undefined) return NO_MATCHES;
    return this.#resolve(found, text, across);
  }

  scanKeyed(key: string, text: string): Match[] {
    const family = familyOfKey(key);
    if (family === undefined || !this.#enabled.has(family)) return NO_MATCHES;
    const value = text.trim();
    if (!plausibleSecretValue(value, this.#minEntropy)) return NO_MATCHES;
    const start = text.indexOf(value);
    return [
      {
        rule: family,
        type: 'secret',
        start,
        end: start + value.length,
        fingerprint: this.#fingerprint(value),
      },
    ];
  }

  #accept(rule: SecretRule, secret: string): boolean {
    if (rule.generic) return plausibleSecretValue(secret, this.#minEntropy);
    if (PLACEHOLDER.test(secret)) return false;
    const min = rule.minEntropy ?? SPECIFIC_MIN_ENTROPY;
    if (min > 0 && shannon(secret) < min) return false;
    return rule.validate === undefined || rule.validate(secret);
  }

  /**
   * Keeps one finding per stretch of text: specific over generic, then longer, then earlier rule.
   * With `across` ≥ 0, reports only the kept matches that run across that position (scanSeam).
   */
  #resolve(found: { c: CompiledRule; start: number; end: number }[], text: string, across: number): Match[] {
    found.sort(
      (a, b) =>
        Number(a.c.rule.generic ?? false) - Number(b.c.rule.generic ?? false) ||
        b.end - b.start - (a.end - a.start) ||
        a.c.index - b.c.index,
    );
    const kept: { c: CompiledRule; start: number; end: number }[] = [];
    for (const f of found) {
      if (kept.some((k) => f.start < k.end && k.start < f.end)) continue;
      kept.push(f);
    }
    kept.sort((a, b) => a.start - b.start);
    const reported = across < 0 ? kept : kept.filter((k) => k.start < across && across < k.end);
    return reported.map((k) => ({
      rule: k.c.rule.id,
      type: 'secret',
      start: k.start,
      end: k.end,
      fingerprint: this.#fingerprint(text.slice(k.start, k.end)),
    }));
  }
}
