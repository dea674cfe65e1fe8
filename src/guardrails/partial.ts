// "Could this still become a match?" for a stream: from a regular expression R, one that matches, at a
// position, exactly when the rest of the text so far is a prefix of some match of R — the text may
// still grow into a match. The stream scanner uses it to release every character that no match in
// progress can include, instead of holding a fixed window back.
//
// Built on the pattern's syntax tree. For each element e: F(e) matches e itself (groups made
// non-capturing, backreferences replaced by what they refer to, lookaheads relaxed to what the text so
// far can tell); T(e) matches a prefix of a match of e that runs to the end of the text. A sequence
// e1…en is T(e1) | F(e1) T(e2…en); e{m,n} is F(e){0,n-1} T(e); a character (class) c is c?$.
// Lookaheads and word boundaries look at text not yet arrived, so they are taken to hold:
// the result may call a dead candidate alive (text is held a little longer), never the reverse.
import { type AST, RegExpParser, visitRegExpAST } from '@eslint-community/regexpp';
import { toUnicodeSet } from 'regexp-ast-analysis';

const parser = new RegExpParser({ ecmaVersion: 2025 });

type Node = AST.Alternative | AST.Element;

function alts(list: readonly AST.Alternative[], f: (a: AST.Alternative) => string): string {
  return `(?:${list.map(f).join('|')})`;
}

/** The element itself, groups non-capturing, backreferences inlined, lookaheads relaxed. */
function full(n: Node): string {
  switch (n.type) {
    case 'Alternative':
      return n.elements.map(full).join('');
    case 'Group':
    case 'CapturingGroup':
      return alts(n.alternatives, full);
    case 'Quantifier':
      return `(?:${full(n.element)})${n.raw.slice(n.element.raw.length)}`;
    case 'Backreference': {
      const target = Array.isArray(n.resolved) ? n.resolved[0] : n.resolved;
      return target === undefined ? '' : alts((target as AST.CapturingGroup).alternatives, full);
    }
    case 'Assertion':
      switch (n.kind) {
        case 'lookahead':
          // The text after may not have arrived: it holds if what is there can still become its match.
          return n.negate ? '' : `(?=${alts(n.alternatives, truncated)}|${alts(n.alternatives, full)})`;
        case 'lookbehind':
          return `(?${n.negate ? '<!' : '<='}${n.alternatives.map(full).join('|')})`;
        case 'word':
          return '';
        case 'start':
          return lineAnchors ? String.raw`(?<![^\n\r\u2028\u2029])` : n.raw;
        case 'end':
          return lineAnchors ? String.raw`(?![^\n\r\u2028\u2029])` : n.raw;
      }
      return '';
    default:
      return n.raw;
  }
}

/** A prefix of a match of the element that runs to the end of the text. */
function truncated(n: Node): string {
  switch (n.type) {
    case 'Alternative': {
      const els = n.elements;
      let t = '$';
      for (let i = els.length - 1; i >= 0; i--) t = `(?:${truncated(els[i])}|${full(els[i])}${t})`;
      return t;
    }
    case 'Group':
    case 'CapturingGroup':
      return alts(n.alternatives, truncated);
    case 'Quantifier': {
      if (n.max === 0) return '$';
      const reps = n.max === Number.POSITIVE_INFINITY ? '*' : `{0,${n.max - 1}}`;
      return `(?:${full(n.element)})${reps}${n.greedy ? '' : '?'}${truncated(n.element)}`;
    }
    case 'Backreference': {
      const target = Array.isArray(n.resolved) ? n.resolved[0] : n.resolved;
      return target === undefined ? '$' : alts((target as AST.CapturingGroup).alternatives, truncated);
    }
    case 'Assertion':
      // Zero-width: the prefix is empty. One looking back must hold here; the others look ahead.
      return n.kind === 'lookbehind' || n.kind === 'start' ? `${full(n)}$` : '$';
    default:
      // A character, class or set: none of it yet, or all of it.
      return `(?:${n.raw})?$`;
  }
}

/**
 * A sticky regular expression that matches at a position when the text from there to its end could
 * still grow into a match of `source`.
 */
export function partialMatcher(source: string, flags = ''): RegExp {
  const f = flags.replace(/[gydm]/g, '');
  const pattern = parser.parsePattern(source, 0, source.length, {
    unicode: f.includes('u'),
    unicodeSets: f.includes('v'),
  });
  // `$` in the result means the end of the text so far, so the multiline flag cannot stay: line
  // anchors become lookarounds instead.
  lineAnchors = flags.includes('m');
  try {
    return new RegExp(alts(pattern.alternatives, truncated), `${f}y`);
  } finally {
    lineAnchors = false;
  }
}

/** While a multiline pattern is rewritten: `^` and `$` are line anchors. */
let lineAnchors = false;

/**
 * For a stream: a function giving the earliest position at or after `from` where the text to its end
 * could still grow into a match of `source` (`text.length` when there is none). One native search,
 * for patterns whose matches may start anywhere.
 */
export function partialSearch(source: string, flags = ''): (text: string, from: number) => number {
  const sticky = partialMatcher(source, flags);
  const re = new RegExp(sticky.source, sticky.flags.replace('y', 'g'));
  return (text, from) => {
    re.lastIndex = Math.max(0, from);
    const m = re.exec(text);
    return m === null ? text.length : m.index;
  };
}

/** The characters a match of a pattern may contain: an ASCII table, and whether any other may. */
export interface MatchChars {
  ascii: Uint8Array;
  other: boolean;
}

/** The characters a match of `source` may contain (what its lookarounds look at is not part of it). */
export function matchChars(source: string, flags = ''): MatchChars {
  const f = parser.parseFlags(flags.replace(/[gyd]/g, ''));
  const pattern = parser.parsePattern(source, 0, source.length, {
    unicode: f.unicode,
    unicodeSets: f.unicodeSets,
  });
  const ascii = new Uint8Array(128);
  let other = false;
  const inLookaround = (n: AST.Node) => {
    for (let p: AST.Node | null = n.parent; p !== null; p = p.parent)
      if (p.type === 'Assertion' && (p.kind === 'lookahead' || p.kind === 'lookbehind')) return true;
    return false;
  };
  const add = (n: AST.Character | AST.CharacterClass | AST.CharacterSet) => {
    if (inLookaround(n)) return;
    const set = toUnicodeSet(n, f);
    if (!set.accept.isEmpty) other = true; // strings (v flag): taken to be anything
    for (const r of set.chars.ranges) {
      for (let c = r.min; c <= Math.min(r.max, 127); c++) ascii[c] = 1;
      if (r.max > 127) other = true;
    }
  };
  // Only elements that consume text on their own: the members of a class are read with the class.
  const consuming = (n: AST.Node) => n.parent?.type === 'Alternative' || n.parent?.type === 'Quantifier';
  visitRegExpAST(pattern, {
    onCharacterEnter: (n) => consuming(n) && add(n),
    onCharacterClassEnter: (n) => consuming(n) && add(n),
    onCharacterSetEnter: (n) => consuming(n) && add(n),
  });
  return { ascii, other };
}

/**
 * Where the run of characters at the end of `text` that a match may contain begins (no earlier than
 * `limit`): a match still in progress lies inside it.
 */
export function trailingRun(text: string, chars: MatchChars, limit: number): number {
  let p = text.length;
  const floor = Math.max(0, limit);
  while (p > floor) {
    const c = text.charCodeAt(p - 1);
    if (c < 128 ? chars.ascii[c] === 0 : !chars.other) break;
    p--;
  }
  return p;
}

/**
 * For a stream, over detectors made of regular expressions: where in `window` (its text so far) a
 * match of one of `rules` may still be in progress; `window.length` when nowhere. A pattern the
 * rewrite cannot read holds its longest match back.
 */
export function patternsPending(
  rules: readonly { source: string; flags: string; maxLength: number }[],
): (window: string) => number {
  type Search = { search: (text: string, from: number) => number; chars: MatchChars };
  let searches: (Search | undefined)[] | undefined;
  return (window) => {
    searches ??= rules.map((r) => {
      try {
        return { search: partialSearch(r.source, r.flags), chars: matchChars(r.source, r.flags) };
      } catch {
        return undefined;
      }
    });
    let earliest = window.length;
    for (let i = 0; i < rules.length; i++) {
      const from = window.length - rules[i].maxLength;
      const s = searches[i];
      if (s === undefined) {
        earliest = Math.min(earliest, Math.max(0, from));
        continue;
      }
      const run = trailingRun(window, s.chars, from);
      if (run < earliest) earliest = Math.min(earliest, s.search(window, run));
    }
    return earliest;
  };
}
