// A Gitleaks configuration (gitleaks.toml, v8) as a detector: the rule packs a platform team already
// keeps for its repositories, applied to what agents send to models.
//
// Semantics follow Gitleaks: a rule runs only when one of its keywords occurs in the text (any case);
// the secret is `secretGroup`, else the first non-empty capture group, else the whole match; a secret
// below the rule's `entropy` is dropped; allowlists (global and per rule; `regexes` against the secret,
// the match or the line as `regexTarget` says, `stopwords` inside the secret; `condition` OR/AND) drop
// findings. Paths and commits do not exist in a model call: allowlist entries about them never apply,
// and rules that only match paths do not run.
//
// Go's RE2 syntax is translated to JavaScript (`(?i)` prefix → flag, `(?P<n>` → `(?<n>`, `\z`,
// POSIX classes); every regex is then checked like any custom pattern (regex-safety.ts).
import { hash } from 'node:crypto';
import { parse as parseToml } from 'smol-toml';
import { shannonEntropy } from './entropy.ts';
import type { Fingerprinter } from './fingerprint.ts';
import { KeywordIndex } from './keyword-index.ts';
import { patternsPending } from './partial.ts';
import { maxMatchLength, parseRegex, regexProblem } from './regex-safety.ts';
import type { Match, TextDetector } from './types.ts';

interface Allowlist {
  regexes: RegExp[];
  target: 'secret' | 'match' | 'line';
  stopwords: string[];
  and: boolean;
}

interface Rule {
  id: string;
  re: RegExp;
  secretGroup: number;
  entropy: number;
  keywords: string[];
  allowlists: Allowlist[];
  maxLength: number;
}

/** What is wrong with a Gitleaks config, naming the rule or allowlist. */
export class GitleaksConfigError extends Error {}

const POSIX: Record<string, string> = {
  alnum: 'A-Za-z0-9',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: ' \\t',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: 'A-Za-z0-9_',
  xdigit: '0-9A-Fa-f',
};

/** A Go (RE2) regular expression as JavaScript source and flags. */
export function goRegexToJs(source: string): { source: string; flags: string } {
  let s = source;
  let flags = '';
  // Leading flag groups apply to the whole pattern: `(?i)`, `(?is)`, `(?-i)`.
  for (let m = /^\(\?([imsU]+)\)/.exec(s); m !== null; m = /^\(\?([imsU]+)\)/.exec(s)) {
    for (const f of m[1]) {
      if (f === 'U') throw new GitleaksConfigError('the U (ungreedy) flag has no JavaScript equivalent');
      if (!flags.includes(f)) flags += f;
    }
    s = s.slice(m[0].length);
  }
  if (/(?<!\\)\(\?[imsU-]+\)/.test(s))
    throw new GitleaksConfigError(
      'a flag group in the middle of the pattern, such as (?i), is not supported here',
    );
  s = s
    .replace(/\(\?P</g, '(?<')
    .replace(/\\z/g, '$')
    .replace(/\\A/g, '^')
    .replace(/\[:(\^?)([a-z]+):\]/g, (all, neg: string, name: string) => {
      const cls = POSIX[name];
      if (cls === undefined) throw new GitleaksConfigError(`unknown POSIX class ${all}`);
      if (neg) throw new GitleaksConfigError(`negated POSIX class ${all} is not supported`);
      return cls;
    })
    .replace(/\\x\{([0-9A-Fa-f]{1,4})\}/g, (_, h: string) => `\\u${h.padStart(4, '0')}`);
  return { source: s, flags };
}

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown, what: string): string[] => {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new GitleaksConfigError(`${what} must be a list of strings`);
  return v as string[];
};

function compileRegex(source: string, what: string, extraFlags = ''): RegExp {
  const js = goRegexToJs(source);
  const flags = [...new Set(js.flags + extraFlags)].join('');
  const problem = regexProblem(js.source, flags);
  if (problem) throw new GitleaksConfigError(`${what}: regex refused: ${problem}`);
  return new RegExp(js.source, flags);
}

function allowlists(owner: Table, what: string): Allowlist[] {
  const tables: Table[] = [];
  if (isTable(owner.allowlist)) tables.push(owner.allowlist);
  if (Array.isArray(owner.allowlists)) for (const a of owner.allowlists) if (isTable(a)) tables.push(a);
  const out: Allowlist[] = [];
  tables.forEach((a, i) => {
    const where = `${what} allowlist ${i + 1}`;
    const target = (a.regexTarget ?? 'secret') as string;
    if (target !== 'secret' && target !== 'match' && target !== 'line')
      throw new GitleaksConfigError(`${where}: regexTarget must be secret, match or line`);
    const condition = String(a.condition ?? 'OR').toUpperCase();
    if (condition !== 'OR' && condition !== 'AND')
      throw new GitleaksConfigError(`${where}: condition must be OR or AND`);
    const regexes = strings(a.regexes, `${where} regexes`).map((r, k) =>
      compileRegex(r, `${where} regex ${k + 1}`),
    );
    const stopwords = strings(a.stopwords, `${where} stopwords`).map((w) => w.toLowerCase());
    const aboutFiles = strings(a.paths, 'paths').length + strings(a.commits, 'commits').length > 0;
    // AND with a path or commit criterion can never hold for a model call; OR simply loses those criteria.
    if (condition === 'AND' && aboutFiles) return;
    if (regexes.length === 0 && stopwords.length === 0) return;
    out.push({ regexes, target, stopwords, and: condition === 'AND' });
  });
  return out;
}

export interface GitleaksConfig {
  rules: Rule[];
  global: Allowlist[];
  /** Rules not imported and why (path-only rules), for `policy validate` output. */
  skipped: { id: string; reason: string }[];
}

/** Parses and checks a gitleaks.toml; throws GitleaksConfigError naming what is wrong. */
export function parseGitleaksConfig(toml: string, exclude: readonly string[] = []): GitleaksConfig {
  let doc: Table;
  try {
    doc = parseToml(toml) as Table;
  } catch (err) {
    throw new GitleaksConfigError(`not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  const rawRules = doc.rules ?? [];
  if (!Array.isArray(rawRules)) throw new GitleaksConfigError('rules must be an array of tables ([[rules]])');
  const excluded = new Set(exclude);
  const known = new Set<string>();
  const rules: Rule[] = [];
  const skipped: { id: string; reason: string }[] = [];
  rawRules.forEach((r, i) => {
    if (!isTable(r)) throw new GitleaksConfigError(`rules[${i}] must be a table`);
    const id = typeof r.id === 'string' && r.id !== '' ? r.id : undefined;
    if (id === undefined) throw new GitleaksConfigError(`rules[${i}] has no id`);
    if (known.has(id)) throw new GitleaksConfigError(`rule ${id} is defined twice`);
    known.add(id);
    if (excluded.has(id)) return;
    const what = `rule ${id}`;
    if (typeof r.regex !== 'string' || r.regex === '') {
      skipped.push({ id, reason: 'matches file paths only' });
      return;
    }
    const re = compileRegex(r.regex, what, 'gd');
    const secretGroup = r.secretGroup ?? 0;
    if (typeof secretGroup !== 'number' || !Number.isInteger(secretGroup) || secretGroup < 0)
      throw new GitleaksConfigError(`${what}: secretGroup must be a non-negative integer`);
    const entropy = r.entropy ?? 0;
    if (typeof entropy !== 'number' || entropy < 0)
      throw new GitleaksConfigError(`${what}: entropy must be a number ≥ 0`);
    const keywords = strings(r.keywords, `${what} keywords`).map((k) => k.toLowerCase());
    for (const k of keywords)
      if (k === '' || /[^\x01-\x7f]/.test(k))
        throw new GitleaksConfigError(`${what}: keywords must be non-empty ASCII`);
    const js = goRegexToJs(r.regex);
    rules.push({
      id,
      re,
      secretGroup,
      entropy,
      keywords,
      allowlists: allowlists(r, what),
      maxLength: maxMatchLength(parseRegex(js.source, [...new Set(`${js.flags}d`)].join(''))),
    });
  });
  for (const id of exclude)
    if (!known.has(id))
      throw new GitleaksConfigError(`exclude names ${id}, which is not a rule of the config`);
  if (rules.length === 0) throw new GitleaksConfigError('the config has no rule to run');
  return { rules, global: allowlists(doc, 'global'), skipped };
}

const MAX_WINDOW = 4096;
const MAX_HITS_PER_RULE = 10_000;

function lineAround(text: string, start: number, end: number): string {
  const a = text.lastIndexOf('\n', start - 1) + 1;
  const z = text.indexOf('\n', end);
  return text.slice(a, z < 0 ? text.length : z);
}

function allowed(lists: readonly Allowlist[], secret: string, match: string, line: () => string): boolean {
  for (const a of lists) {
    const target = a.target === 'secret' ? secret : a.target === 'match' ? match : line();
    const byRegex = a.regexes.length > 0 && a.regexes.some((re) => re.test(target));
    const lower = secret.toLowerCase();
    const byStopword = a.stopwords.length > 0 && a.stopwords.some((w) => lower.includes(w));
    if (a.and) {
      if ((a.regexes.length === 0 || byRegex) && (a.stopwords.length === 0 || byStopword)) return true;
    } else if (byRegex || byStopword) return true;
  }
  return false;
}

export class GitleaksDetector implements TextDetector {
  readonly signature: string;
  readonly maxMatchLength: number;
  readonly config: GitleaksConfig;
  readonly #fingerprint: Fingerprinter;
  readonly #index: KeywordIndex | undefined;
  /** Rule indices per keyword of the index; rules without keywords always run. */
  readonly #byKeyword: number[][];
  readonly #always: number[];
  /** For a stream: where a match may still be in progress (see TextDetector.pendingFrom). */
  readonly pendingFrom: (window: string) => number;

  constructor(toml: string, options: { exclude?: readonly string[]; fingerprint: Fingerprinter }) {
    this.config = parseGitleaksConfig(toml, options.exclude);
    this.#fingerprint = options.fingerprint;
    const keywords = new Map<string, number[]>();
    this.#always = [];
    this.config.rules.forEach((r, i) => {
      if (r.keywords.length === 0) this.#always.push(i);
      for (const k of r.keywords) {
        const list = keywords.get(k) ?? [];
        list.push(i);
        keywords.set(k, list);
      }
    });
    this.#index = keywords.size > 0 ? new KeywordIndex([...keywords.keys()]) : undefined;
    this.#byKeyword = [...keywords.values()];
    this.maxMatchLength = Math.min(MAX_WINDOW, Math.max(0, ...this.config.rules.map((r) => r.maxLength)));
    this.pendingFrom = patternsPending(
      this.config.rules.map((r) => ({ source: r.re.source, flags: r.re.flags, maxLength: r.maxLength })),
    );
    this.signature = `gitleaks:${hash('sha256', toml, 'base64')}:${(options.exclude ?? []).join(',')}:${options.fingerprint.saltId}`;
  }

  scan(text: string): Match[] {
    const run = new Set(this.#always);
    if (this.#index !== undefined) {
      const { count, hits } = this.#index.scan(text);
      for (let h = 0; h < count * 2; h += 2) for (const ri of this.#byKeyword[hits[h]]) run.add(ri);
    }
    if (run.size === 0) return [];
    const out: Match[] = [];
    for (const ri of [...run].sort((a, b) => a - b)) {
      const rule = this.config.rules[ri];
      const re = rule.re;
      re.lastIndex = 0;
      let hits = 0;
      for (let m = re.exec(text); m !== null && hits < MAX_HITS_PER_RULE; m = re.exec(text)) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        hits++;
        let span = m.indices![0]!;
        if (rule.secretGroup > 0) {
          const g = m.indices![rule.secretGroup];
          if (g === undefined) continue;
          span = g;
        } else if (m.length > 1) {
          for (let g = 1; g < m.length; g++)
            if (m[g] !== undefined && m[g] !== '') {
              span = m.indices![g]!;
              break;
            }
        }
        const [start, end] = span;
        const secret = text.slice(start, end);
        if (secret === '' || (rule.entropy > 0 && shannonEntropy(secret) < rule.entropy)) continue;
        const line = () => lineAround(text, m.index, m.index + m[0].length);
        if (allowed(rule.allowlists, secret, m[0], line) || allowed(this.config.global, secret, m[0], line))
          continue;
        out.push({ rule: rule.id, type: 'secret', start, end, fingerprint: this.#fingerprint(secret) });
      }
    }
    return out.sort((a, b) => a.start - b.start);
  }
}
