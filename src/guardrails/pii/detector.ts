// The PII detector. Candidates come from three cheap passes (every '@' for email addresses, one
// combined regular expression for number-shaped data, one for IBANs); validators then decide.
//
// Decisions: version and section numbers (a dotted quad after `v`, `version`, `section`, `step`,
// `§`, `//`, `@` or `-`, with a fifth part, or outside 10/8 with every octet below 32) are not addresses; loopback, private, link-local, documentation and other reserved addresses, and
// the big public DNS resolvers, identify no one and are skipped unless `includePrivateIps`; phone
// numbers need a leading + or the separators of a North American or 0-trunk national format, so bare
// digit runs (timestamps, ids) never count; 555-01xx numbers are fiction, and published example SSNs
// and the jwt.io-style samples of each format are not reported.
import type { Fingerprinter } from '../fingerprint.ts';
import { partialMatcher } from '../partial.ts';
import type { Match, TextDetector } from '../types.ts';
import {
  e164Valid,
  IBAN_LENGTHS,
  ibanValid,
  ipv4Reportable,
  ipv6Reportable,
  nanpValid,
  paymentCardValid,
  ssnValid,
  trunkValid,
} from './validators.ts';

export const PII_TYPES = ['email', 'phone', 'ssn', 'payment_card', 'iban', 'ip_address'] as const;
export type PiiType = (typeof PII_TYPES)[number];

const ALTERNATIVES: Record<string, string> = {
  ssn: String.raw`(?<ssn>\d{3}-\d{2}-\d{4})`,
  card: String.raw`(?<card>\d{13,19}|\d{4}(?<cs>[ -])\d{4}\k<cs>\d{4}\k<cs>\d{4}(?:\k<cs>\d{3})?|\d{4}(?<as>[ -])\d{6}\k<as>\d{4,5})`,
  ip4: String.raw`(?<ip4>\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})`,
  ip6: `(?<ip6>(?<!:)[23][0-9A-Fa-f]{3}:[0-9A-Fa-f:]{0,38}[0-9A-Fa-f](?![:]))`,
  nanp: String.raw`(?<nanp>(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4})`,
  trunk: String.raw`(?<trunk>0\d{2,4}[ -]\d{3,4}[ -]\d{3,4}|0\d{2,4} \d{6,8})`,
  e164: String.raw`(?<e164>\+[1-9][\d ().-]{6,22}\d)`,
};
// Not glued to a word or number — but a JSON escape (`\n`) before it is fine.
const LEAD = String.raw`(?:(?<![\w.+-])|(?<=\\[nrtbf]))`;
// Every number-shaped format is at least 7 characters of digits and separators. A pattern that starts
// by consuming a character lets V8 skip through the text quickly; the precise pattern then runs
// anchored at each such place only.
const NUMBERISH_RUN = /[\d(+][\d ().:A-Fa-f-]{6}/g;
const TRAIL = String.raw`(?![\w-]|\.\w)`;
// Written without its leading boundary (not glued to a letter or digit, or after a JSON escape), which
// #ibans checks: a pattern that starts with a character class lets V8 skip through the text quickly.
const IBAN_RE = /[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])/g;
const IPV6_ANY_RE =
  /(?<![\w:.])(?=[0-9A-Fa-f]{0,4}::?[0-9A-Fa-f])[0-9A-Fa-f:]{2,39}(?:\.\d{1,3}){0,3}(?![\w:])/g;
// Dotted numbers that are versions or section numbers, not addresses.
const VERSION_BEFORE =
  /(?:\bv|\bver(?:sion)?|\brelease|\bbuild|\brev|\bsec(?:tion)?|\bstep|\bchapter|\bclause|\brfc\s*\d+|§|@|\/\/|#)\s*[:=]?\s*$/i;

const LOCAL_CHARS = new Uint8Array(128);
const DOMAIN_CHARS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9]/.test(ch)) LOCAL_CHARS[c] = DOMAIN_CHARS[c] = 1;
  if ('._%+-'.includes(ch)) LOCAL_CHARS[c] = 1;
  if ('.-'.includes(ch)) DOMAIN_CHARS[c] = 1;
}
const NOT_PERSONAL_LOCAL = /^(?:git|no-?reply|do-?not-?reply|mailer-daemon|postmaster)$/i;
const RESERVED_DOMAIN = /(?:^|\.)(?:example\.(?:com|net|org)|example|test|invalid|localhost|local)$|noreply/i;
/** Longest number-shaped candidate (an IPv6 address) and IBAN, in characters. */
const MAX_NUMERIC = 48;
const MAX_IBAN = 44;
/** An address's local part is at most this long (emailOk). */
const MAX_LOCAL = 64;

const FILE_TLD =
  /^(?:js|mjs|cjs|jsx|ts|tsx|json|ya?ml|html?|css|scss|png|jpe?g|gif|svg|txt|lock|map|vue|min)$/i;

export class PiiDetector implements TextDetector {
  readonly signature: string;
  readonly maxMatchLength = 320;
  readonly #types: Set<PiiType>;
  readonly #includePrivate: boolean;
  readonly #numeric: RegExp | undefined;
  readonly #fingerprint: Fingerprinter;

  constructor(
    types: readonly PiiType[],
    options: { includePrivateIps?: boolean; fingerprint: Fingerprinter },
  ) {
    this.#types = new Set(types);
    this.#includePrivate = options.includePrivateIps ?? false;
    this.#fingerprint = options.fingerprint;
    const alts: string[] = [];
    if (this.#types.has('ssn')) alts.push(ALTERNATIVES.ssn);
    if (this.#types.has('payment_card')) alts.push(ALTERNATIVES.card);
    if (this.#types.has('ip_address')) alts.push(ALTERNATIVES.ip4, ALTERNATIVES.ip6);
    if (this.#types.has('phone')) alts.push(ALTERNATIVES.nanp, ALTERNATIVES.trunk, ALTERNATIVES.e164);
    this.#numeric = alts.length ? new RegExp(`${LEAD}(?:${alts.join('|')})${TRAIL}`, 'y') : undefined;
    this.signature = `pii:${[...this.#types].sort().join(',')}:${this.#includePrivate}:${options.fingerprint.saltId}`;
  }

  /** Partial matchers for pendingFrom, built on first use (only streams need them). */
  #partial: { numeric?: RegExp; iban: RegExp; ipv6: RegExp } | undefined;

  /**
   * For a stream: where in `window` (its text so far) an address, number or IBAN may still be
   * arriving — the earliest start of one that the text to come could complete; `window.length` when
   * none. Every word at the end may be the local part of an address still to come, and is held until
   * it ends; a candidate number is held while it may still become a valid shape.
   */
  pendingFrom(window: string): number {
    const n = window.length;
    let earliest = n;
    if (this.#types.has('email')) {
      let s = n;
      let at = -1;
      while (s > 0) {
        const c = window.charCodeAt(s - 1);
        if (c < 128 && LOCAL_CHARS[c] === 1) s--;
        else if (c === 64 && at === -1) at = --s;
        else break;
      }
      // Without an `@` yet, a run longer than a local part may be can never become an address.
      if (s < n && (at !== -1 ? at - s <= MAX_LOCAL : n - s <= MAX_LOCAL)) earliest = s;
    }
    this.#partial ??= {
      numeric: this.#numeric === undefined ? undefined : partialMatcher(this.#numeric.source),
      iban: partialMatcher(IBAN_RE.source),
      ipv6: partialMatcher(IPV6_ANY_RE.source),
    };
    const p = this.#partial;
    const ibans = this.#types.has('iban');
    const anyIpv6 = this.#includePrivate && this.#types.has('ip_address');
    for (let i = Math.max(0, n - MAX_NUMERIC); i < earliest; i++) {
      const c = window.charCodeAt(i);
      const digit = c >= 48 && c <= 57;
      if (p.numeric !== undefined && (digit || c === 40 || c === 43) && alive(p.numeric, window, i)) return i;
      if (
        ibans &&
        c >= 65 &&
        c <= 90 &&
        i >= n - MAX_IBAN &&
        ibanBoundary(window, i) &&
        alive(p.iban, window, i)
      )
        return i;
      if (
        anyIpv6 &&
        (digit || c === 58 || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)) &&
        alive(p.ipv6, window, i)
      )
        return i;
    }
    return earliest;
  }

  scan(text: string): Match[] {
    const out: Match[] = [];
    if (this.#types.has('email')) this.#emails(text, out);
    if (this.#numeric) this.#numbers(text, out);
    if (this.#types.has('iban')) this.#ibans(text, out);
    if (this.#includePrivate && this.#types.has('ip_address')) this.#anyIpv6(text, out);
    if (out.length < 2) return out;
    // Candidates of different kinds can overlap; keep the earliest (then longest) of each stretch.
    out.sort((a, b) => a.start - b.start || b.end - a.end);
    const kept: Match[] = [];
    for (const m of out) if (kept.length === 0 || m.start >= kept[kept.length - 1].end) kept.push(m);
    return kept;
  }

  #push(out: Match[], rule: PiiType, text: string, start: number, end: number) {
    out.push({ rule, type: 'pii', start, end, fingerprint: this.#fingerprint(text.slice(start, end)) });
  }

  #emails(text: string, out: Match[]) {
    const n = text.length;
    let at = text.indexOf('@');
    while (at !== -1) {
      let s = at;
      while (s > 0 && text.charCodeAt(s - 1) < 128 && LOCAL_CHARS[text.charCodeAt(s - 1)]) s--;
      let e = at + 1;
      while (e < n && text.charCodeAt(e) < 128 && DOMAIN_CHARS[text.charCodeAt(e)]) e++;
      while (e > at + 1 && (text[e - 1] === '.' || text[e - 1] === '-')) e--;
      while (s < at && text[s] === '.') s++;
      if (s > 0 && text[s - 1] === '\\' && 'nrtbf'.includes(text[s])) s++; // `\nalice@…` in JSON-encoded text
      if (s < at && e > at + 1 && this.#emailOk(text, s, at, e)) this.#push(out, 'email', text, s, e);
      at = text.indexOf('@', Math.max(at + 1, e));
    }
  }

  #emailOk(text: string, s: number, at: number, e: number): boolean {
    const local = text.slice(s, at);
    const domain = text.slice(at + 1, e);
    if (local.length > 64 || local.endsWith('.') || local.includes('..') || NOT_PERSONAL_LOCAL.test(local))
      return false;
    if (s >= 2 && text[s - 1] === '/' && text[s - 2] === '/') return false; // scheme://user@host
    const labels = domain.split('.');
    if (labels.length < 2 || domain.length > 253) return false;
    for (const l of labels) if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l)) return false;
    const tld = labels[labels.length - 1];
    if (!/^(?:[A-Za-z]{2,24}|xn--[a-z0-9]{2,20})$/.test(tld) || FILE_TLD.test(tld)) return false;
    return !RESERVED_DOMAIN.test(domain);
  }

  #numbers(text: string, out: Match[]) {
    const re = this.#numeric!;
    const run = NUMBERISH_RUN;
    run.lastIndex = 0;
    for (let r = run.exec(text); r !== null; r = run.exec(text)) {
      re.lastIndex = r.index;
      const m = re.exec(text);
      if (m === null) {
        run.lastIndex = nextUnblocked(text, r.index + 1);
        continue;
      }
      run.lastIndex = r.index + m[0].length;
      const g = m.groups!;
      const start = m.index;
      const end = start + m[0].length;
      const found = m[0];
      let rule: PiiType | undefined;
      if (g.ssn !== undefined) rule = ssnValid(found) ? 'ssn' : undefined;
      else if (g.card !== undefined)
        rule = paymentCardValid(found.replace(/[ -]/g, '')) ? 'payment_card' : undefined;
      else if (g.ip4 !== undefined) rule = this.#ipv4Ok(text, start, found) ? 'ip_address' : undefined;
      else if (g.ip6 !== undefined)
        rule = ipv6Reportable(found, this.#includePrivate) ? 'ip_address' : undefined;
      else if (g.nanp !== undefined) rule = nanpOk(found) ? 'phone' : undefined;
      else if (g.trunk !== undefined) rule = trunkOk(found) ? 'phone' : undefined;
      else if (g.e164 !== undefined) rule = e164Valid(found) ? 'phone' : undefined;
      if (rule) this.#push(out, rule, text, start, end);
    }
  }

  #ipv4Ok(text: string, start: number, found: string): boolean {
    if (!ipv4Reportable(found, this.#includePrivate)) return false;
    // Outline numbering (4.2.6.1, 12.1.1.3) looks like an address with only small octets.
    const octets = found.split('.').map(Number);
    if (octets[0] !== 10 && octets.every((o) => o < 32)) return false;
    return !VERSION_BEFORE.test(text.slice(Math.max(0, start - 12), start));
  }

  #ibans(text: string, out: Match[]) {
    IBAN_RE.lastIndex = 0;
    for (let m = IBAN_RE.exec(text); m !== null; m = IBAN_RE.exec(text)) {
      if (!ibanBoundary(text, m.index)) {
        IBAN_RE.lastIndex = m.index + 1;
        continue;
      }
      const len = IBAN_LENGTHS[m[0].slice(0, 2)];
      if (len === undefined) continue;
      // The pattern may run into a following all-caps word: cut at the country's length if that is a group edge.
      let seen = 0;
      let cut = -1;
      for (let i = 0; i < m[0].length; i++) {
        if (m[0][i] !== ' ') seen++;
        if (seen === len) {
          cut = i + 1;
          break;
        }
      }
      if (cut === -1 || (cut < m[0].length && m[0][cut] !== ' ')) continue;
      const candidate = m[0].slice(0, cut);
      if (ibanValid(candidate)) this.#push(out, 'iban', text, m.index, m.index + cut);
    }
  }

  #anyIpv6(text: string, out: Match[]) {
    IPV6_ANY_RE.lastIndex = 0;
    for (let m = IPV6_ANY_RE.exec(text); m !== null; m = IPV6_ANY_RE.exec(text)) {
      const a = m[0];
      const groups = a.split(':').filter(Boolean).length;
      if ((groups >= 2 || a === '::1') && ipv6Reportable(a, true))
        this.#push(out, 'ip_address', text, m.index, m.index + a.length);
    }
  }
}

// Characters that, before a candidate, rule it out (LEAD): word characters, '.', '+', '-'.
const BLOCKS = new Uint8Array(128);
for (let c = 0; c < 128; c++) BLOCKS[c] = /[\w.+-]/.test(String.fromCharCode(c)) ? 1 : 0;

/** The first position at or after `from` that LEAD allows, skipping long digit or word runs in one go. */
function nextUnblocked(text: string, from: number): number {
  let j = from;
  const n = text.length;
  while (j < n) {
    const c = text.charCodeAt(j - 1);
    if (c >= 128 || BLOCKS[c] === 0) break;
    if (j > 1 && text.charCodeAt(j - 2) === 92 && 'nrtbf'.includes(text[j - 1])) break;
    j++;
  }
  return j;
}

function alive(partial: RegExp, text: string, at: number): boolean {
  partial.lastIndex = at;
  return partial.test(text);
}

/** IBAN_RE's leading boundary: no letter or digit before `at`, unless it ends a JSON escape (`\\n`). */
function ibanBoundary(text: string, at: number): boolean {
  if (at === 0) return true;
  const c = text.charCodeAt(at - 1);
  const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  if (!alnum) return true;
  return at > 1 && text.charCodeAt(at - 2) === 92 && 'nrtbf'.includes(text[at - 1]);
}

function nanpOk(found: string): boolean {
  const m = /^(?:1([ .-]))?(?:\((\d{3})\) ?|(\d{3})([ .-]))(\d{3})([ .-])(\d{4})$/.exec(found);
  if (!m) return false;
  const [, , parenArea, area, sep1, exchange, sep2, line] = m;
  if (area !== undefined && sep1 !== sep2) return false;
  return nanpValid(parenArea ?? area, exchange, line);
}

function trunkOk(found: string): boolean {
  const seps = found.replace(/\d/g, '');
  return new Set(seps).size === 1 && trunkValid(found);
}
