// Custom regular-expression rules from a GuardrailChain, compiled and vetted when the chain compiles.
import type { Fingerprinter } from './fingerprint.ts';
import { patternsPending } from './partial.ts';
import { maxMatchLength, parseRegex, regexProblem } from './regex-safety.ts';
import type { Match, TextDetector } from './types.ts';

export interface RegexRuleSpec {
  name: string;
  pattern: string;
  flags?: string;
}

const MAX_WINDOW = 4096;
/** More hits than this for one rule in one text are not reported (a pattern that matches everything). */
const MAX_HITS_PER_RULE = 10_000;

export class RegexDetector implements TextDetector {
  readonly signature: string;
  readonly maxMatchLength: number;
  readonly #rules: { name: string; re: RegExp }[];
  readonly #fingerprint: Fingerprinter;
  /** For a stream: where a match may still be in progress (see TextDetector.pendingFrom). */
  readonly pendingFrom: (window: string) => number;

  /** Throws an Error naming the rule when a pattern is invalid or can backtrack catastrophically. */
  constructor(rules: readonly RegexRuleSpec[], fingerprint: Fingerprinter) {
    this.#fingerprint = fingerprint;
    let longest = 0;
    const lengths: number[] = [];
    this.#rules = rules.map((r) => {
      const flags = r.flags ?? '';
      if (!/^[imsu]*$/.test(flags) || new Set(flags).size !== flags.length) {
        throw new Error(`rule '${r.name}': flags must be a subset of "imsu", got "${flags}"`);
      }
      const problem = regexProblem(r.pattern, flags);
      if (problem) throw new Error(`rule '${r.name}': pattern rejected: ${problem}`);
      const length = maxMatchLength(parseRegex(r.pattern, flags));
      lengths.push(length);
      longest = Math.max(longest, length);
      return { name: r.name, re: new RegExp(r.pattern, `${flags}gd`) };
    });
    this.maxMatchLength = Math.min(MAX_WINDOW, longest);
    this.pendingFrom = patternsPending(
      rules.map((r, i) => ({ source: r.pattern, flags: r.flags ?? '', maxLength: lengths[i] })),
    );
    this.signature = `regex:${JSON.stringify(rules.map((r) => [r.name, r.pattern, r.flags ?? '']))}:${fingerprint.saltId}`;
  }

  scan(text: string): Match[] {
    const out: Match[] = [];
    for (const { name, re } of this.#rules) {
      re.lastIndex = 0;
      let hits = 0;
      for (let m = re.exec(text); m !== null && hits < MAX_HITS_PER_RULE; m = re.exec(text)) {
        const [start, end] = m.indices?.groups?.secret ?? m.indices![0]!;
        if (m[0].length === 0) re.lastIndex++;
        if (end <= start) continue;
        hits++;
        out.push({
          rule: name,
          type: 'custom',
          start,
          end,
          fingerprint: this.#fingerprint(text.slice(start, end)),
        });
      }
    }
    return out.sort((a, b) => a.start - b.start);
  }
}
