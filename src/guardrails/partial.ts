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
import { type AST, RegExpParser } from '@eslint-community/regexpp';

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
        default:
          return n.raw;
      }
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
  return new RegExp(alts(pattern.alternatives, truncated), `${f}y`);
}
