// Builders for secret rules. Every rule's match starts at one of its keywords (or a fixed number of
// characters before it), so the keyword index can tell exactly where a rule needs to run.

export interface SecretRule {
  /** snake_case id; findings carry it as `rule`. */
  id: string;
  /** What the rule finds, for documentation. */
  title: string;
  /** Literals (ASCII, matched case-insensitively) at which a match starts. */
  keywords: string[];
  /** Regular expression source, run sticky at `keyword position - offset`. A named group `s` is the secret. */
  pattern: string;
  /** How many characters before the keyword the match starts (fixed-width prefixes such as Mailchimp's). */
  offset?: number;
  /** Minimum Shannon entropy of the secret; generic rules use the step's `minEntropy` instead. */
  minEntropy?: number;
  /** Generic assignment rules: lower priority than specific rules on the same text, entropy-gated. */
  generic?: boolean;
  /** Extra check on the secret (checksums, decodes, placeholders). */
  validate?: (secret: string) => boolean;
  /**
   * A template of a realistic value, used by the tests to generate fresh fake credentials:
   * `{alnum:36}` = 36 random characters from that alphabet (see ALPHABETS), `{jwt}` = a signed-looking JWT.
   */
  sample: string;
}

export const ALPHABETS: Record<string, string> = {
  alnum: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  hex: '0123456789abcdef',
  HEX: '0123456789ABCDEF',
  upper: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  lower: 'abcdefghijklmnopqrstuvwxyz',
  alpha: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
  digit: '0123456789',
  b32: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567',
  b32lower: 'abcdefghijklmnopqrstuvwxyz234567',
  b64: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
  b64url: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-',
  lowernum: 'abcdefghijklmnopqrstuvwxyz0123456789',
  uppernum: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  bech32: 'qpzry9x8gf2tvdw0s3jn54khce6mua7l',
  BECH32: 'QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L',
};

/** Escapes a literal for use in a regular expression. */
export const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A literal matched case-insensitively without the `i` flag (which would loosen the rest of the rule). */
export const ci = (s: string) =>
  [...s].map((ch) => (/[a-z]/i.test(ch) ? `[${ch.toLowerCase()}${ch.toUpperCase()}]` : esc(ch))).join('');

/**
 * Not preceded by any of `chars` — or preceded by a JSON/C escape (`\n`, `\t`…), since tool output often
 * arrives JSON-encoded and `\nghp_…` must still count as a token at the start of a line.
 */
export const lead = (chars: string) => String.raw`(?:(?<![${chars}])|(?<=\\[nrtbf]))`;
/** Not preceded by a letter or digit. */
export const LEAD = lead('A-Za-z0-9');
/** Not followed by more token characters. */
export const TAIL = '(?![A-Za-z0-9_-])';

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
export const uuid = UUID;
export const UUID_SAMPLE = '{hex:8}-{hex:4}-{hex:4}-{hex:4}-{hex:12}';

interface Opts {
  lead?: string;
  tail?: string;
  minEntropy?: number;
  validate?: (secret: string) => boolean;
}

/** A token recognised by its own prefix: `ghp_…`, `sk-ant-api03-…`. */
export function tok(
  id: string,
  title: string,
  prefixes: string[],
  body: string,
  sample: string,
  o: Opts = {},
): SecretRule {
  const alt = prefixes.length === 1 ? esc(prefixes[0]) : `(?:${prefixes.map(esc).join('|')})`;
  return {
    id,
    title,
    keywords: prefixes,
    pattern: `${o.lead ?? LEAD}(?<s>${alt}${body})${o.tail ?? TAIL}`,
    sample,
    minEntropy: o.minEntropy,
    validate: o.validate,
  };
}

// After a name such as DATADOG_API_KEY: the rest of the identifier, a closing quote (JSON, maybe
// escaped inside a JSON string), an assignment or plain whitespace, an opening quote.
const IDENT = '[A-Za-z0-9_.-]{0,32}';
const SEP = String.raw`(?:\\?["'])?\]?(?:\s{0,8}(?::=|=>|=|:)\s{0,8}|\s{1,8})(?:\\?["'\x60])?`;

/** A value without a recognisable prefix, found next to a name that says what it is (`cohere…key = …`). */
export function ctx(
  id: string,
  title: string,
  names: string[],
  value: string,
  sample: string,
  o: Opts = {},
): SecretRule {
  return {
    id,
    title,
    keywords: names,
    pattern: `(?:${names.map(ci).join('|')})${IDENT}${SEP}(?<s>${value})${o.tail ?? TAIL}`,
    sample,
    minEntropy: o.minEntropy,
    validate: o.validate,
  };
}

/** A raw rule: the pattern must start matching at one of the keywords (or `offset` characters before). */
export function raw(
  id: string,
  title: string,
  keywords: string[],
  pattern: string,
  sample: string,
  o: { offset?: number; minEntropy?: number; validate?: (secret: string) => boolean; generic?: boolean } = {},
): SecretRule {
  return { id, title, keywords, pattern, sample, ...o };
}

const PEM_BODY = String.raw`(?:[A-Za-z0-9+/=\s:,.]|-(?!----)|\\[rn]){20,16000}`;

/** A PEM armoured private key; the whole block is the secret. */
export function pem(id: string, title: string, label: string): SecretRule {
  return {
    id,
    title,
    keywords: [`-----BEGIN ${label}-----`],
    pattern: `(?<s>-----BEGIN ${esc(label)}-----${PEM_BODY}(?:-----END ${esc(label)}-----)?)`,
    sample: `-----BEGIN ${label}-----\n{pem}\n-----END ${label}-----`,
    minEntropy: 0,
    validate: (s) => {
      const body = s.slice(label.length + 16).split('-----END')[0];
      return (body.match(/[A-Za-z0-9+/]/g)?.length ?? 0) >= 64;
    },
  };
}

const PLACEHOLDER =
  /^(?:\*+|x+|X+|\.+|-+|_+)$|^[$%<{[]|\$\{|\{\{|^(?:pass(?:word|wd)?|pwd|secret|changeme|change_me|example|test|username|user|your_?password|mypassword|admin|root|null|none|undefined|redacted)$/i;

/** A password taken from a URL or connection string that is more than a placeholder. */
export function realPassword(pw: string): boolean {
  // `authpassword`, `yourpassword123`: documentation saying where the password goes.
  if (pw.length < 4 || PLACEHOLDER.test(pw) || /pass(?:word|wd)/i.test(pw)) return false;
  return !/^(.)\1*$/.test(pw);
}

/** `scheme://user:password@host` for the given scheme pattern; the password is the secret. */
export function url(
  id: string,
  title: string,
  keywords: string[],
  scheme: string,
  sample: string,
): SecretRule {
  return {
    id,
    title,
    keywords,
    pattern: String.raw`${lead('A-Za-z0-9+.-')}(?:${scheme})://[^\s:@/?#"'\\<>[\]]{0,128}:(?<s>[^\s@/?#"'\\<>[\]]{1,128})@(?=[A-Za-z0-9[._-])`,
    sample,
    minEntropy: 0,
    validate: realPassword,
  };
}
