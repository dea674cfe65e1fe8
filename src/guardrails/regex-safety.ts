// Static checks on regular expressions before they ever meet a prompt: refuse patterns that can backtrack
// catastrophically, and work out how long a match can be (the stream scanner's carry-over window).
//
// scslre finds nested quantifiers and quantifiers that trade characters with each other (exponential and
// polynomial backtracking). It only reasons about attack strings repeating one character, so alternations
// whose branches can start with the same character inside a repeat (`(a|ab)*`, `(\w|\d)+`) are refused
// here too: that is where the ambiguity it cannot see comes from. This is deliberately conservative.
import { type AST, RegExpParser, visitRegExpAST } from '@eslint-community/regexpp';
import { getFirstConsumedChar, getLengthRange } from 'regexp-ast-analysis';
import { analyse } from 'scslre';

export interface ParsedRegex {
  pattern: AST.Pattern;
  flags: AST.Flags;
}

const parser = new RegExpParser({ ecmaVersion: 2025 });

/** Parses `source` with `flags`; throws a SyntaxError naming the problem. */
export function parseRegex(source: string, flags: string): ParsedRegex {
  const parsedFlags = parser.parseFlags(flags);
  const pattern = parser.parsePattern(source, 0, source.length, {
    unicode: parsedFlags.unicode,
    unicodeSets: parsedFlags.unicodeSets,
  });
  return { pattern, flags: parsedFlags };
}

/** Longest match the pattern can produce, in UTF-16 code units (Infinity when unbounded). */
export function maxMatchLength(parsed: ParsedRegex): number {
  return getLengthRange(parsed.pattern.alternatives, parsed.flags).max;
}

/** Why the pattern is unsafe to run over untrusted text, or undefined when it is fine. */
export function regexProblem(source: string, flags: string): string | undefined {
  let parsed: ParsedRegex;
  try {
    parsed = parseRegex(source, flags);
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message}`;
  }
  if (getLengthRange(parsed.pattern.alternatives, parsed.flags).min === 0) {
    return 'it can match the empty string';
  }
  const { reports } = analyse(parsed, { reportTypes: { Move: false }, maxReports: 1 });
  const report = reports[0];
  if (report) {
    const where =
      report.type === 'Trade' ? `${report.startQuant.raw}' and '${report.endQuant.raw}` : report.quant.raw;
    const kind = report.exponential ? 'exponentially' : 'polynomially';
    return `it can backtrack ${kind} on a long run of ${JSON.stringify(report.character.pick)} (quantifiers '${where}' compete for the same characters); bound or remove one of them`;
  }
  return overlappingAlternation(parsed);
}

function overlappingAlternation(parsed: ParsedRegex): string | undefined {
  let problem: string | undefined;
  const check = (node: AST.Group | AST.CapturingGroup) => {
    if (problem || node.alternatives.length < 2 || !insideRepeat(node)) return;
    const firsts = node.alternatives.map((alt) => getFirstConsumedChar(alt, 'ltr', parsed.flags).char);
    for (let i = 0; i < firsts.length && !problem; i++) {
      for (let j = i + 1; j < firsts.length; j++) {
        if (firsts[i].isEmpty || firsts[j].isEmpty) continue;
        if (!firsts[i].isDisjointWith(firsts[j])) {
          problem =
            `alternatives '${node.alternatives[i].raw}' and '${node.alternatives[j].raw}' inside a repeat can start ` +
            'with the same character, which can backtrack exponentially; factor out the common start ' +
            "(e.g. 'a(?:b|c)' instead of 'ab|ac') or make the branches disjoint";
          return;
        }
      }
    }
  };
  visitRegExpAST(parsed.pattern, { onGroupEnter: check, onCapturingGroupEnter: check });
  return problem;
}

function insideRepeat(node: AST.Node): boolean {
  for (let p = node.parent; p; p = p.parent) {
    if (p.type === 'Quantifier' && p.max > 1) return true;
  }
  return false;
}
