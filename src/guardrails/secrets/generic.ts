// Is a value assigned to something called password/secret/token/api_key a real secret, or code?
// Identifiers, member paths, URLs, file paths, versions and placeholders are not; random-looking
// strings are (Shannon entropy over a length-aware threshold).
import { entropyThreshold, shannonEntropy } from '../entropy.ts';

const PLACEHOLDER =
  /example|sample|dummy|placeholder|redacted|changeme|change_me|your[_-]|xxxx|\*{3}|\.{3}|<|>|\$\{|\{\{|%[sd]|^\$|^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/i;
const NAME_WORDS = /password|passwd|secret|token|api_?key|credential/i;
const MEMBER_PATH = /^[A-Za-z_$][\w$]*(?:(?:\.|::|->)[A-Za-z_$][\w$]*)+(?:\(\))?$/;
const LETTERS_ONLY = /^[A-Za-z_-]+$/;
const WORDS = /^(?:[A-Z]?[a-z]{2,}|[A-Z]{2,}|[_-])+$/;
const NUMBERISH = /^[\d\s.,:/_+-]+$/;
const VERSION = /^v?\d+(?:[._-]\d+)+(?:[._+-][A-Za-z][\w.-]*)?$/;
const PATHISH =
  /^(?:\.{0,2}\/|~\/|[A-Za-z]:\\)|:\/\/|^[\w.-]+\.(?:js|mjs|cjs|ts|tsx|jsx|json|ya?ml|toml|ini|env|txt|md|html?|css|py|rb|go|rs|java|sh|pem|crt|key|pub|png|jpe?g|svg|gif|lock)$/i;
// utf8Decoder, HmacSHA256, Uint8Array, Float64Array, Base64Url: type and function names.
const IDENT_WITH_NUMBER =
  /^[a-z]+(?:[A-Z][a-z]*)*[0-9]{1,4}(?:[A-Z][a-z]*)*$|^[A-Z][a-z]+(?:[A-Z][a-z]*)*[0-9]{1,4}(?:[A-Z][a-z]*)*$/;
const HASHLIKE_CONST = /^(?:[A-Z]+[0-9]+)+$/;
const CODEISH = /\[.*\]|\(.*\)|\{.*\}|^urn:/i;
// Names that are about a secret without holding one: `token_type`, `password_url`, `secretName`.
const META_SUFFIX =
  /(?:type|kind|url|uri|endpoint|path|file|dir|name|count|length|len|size|expir\w*|ttl|header|prefix|suffix|format|field|param|regex|pattern|strings?|limit|policy|hint|label|description|placeholder|input|env|var|id|ref|version|mode|source|provider|store|manager|hash)$/i;

/** Whether the name a generic value is assigned to (`requested_token_type`) only describes a secret. */
export function metaName(name: string): boolean {
  return META_SUFFIX.test(name.replace(/[^A-Za-z0-9]+$/, ''));
}

/** Whether `value` (from a generic assignment) plausibly is a secret rather than code or prose. */
export function plausibleSecretValue(value: string, minEntropy: number): boolean {
  const n = value.length;
  if (n < 8 || n > 4000) return false;
  if (NUMBERISH.test(value) || VERSION.test(value)) return false;
  if (LETTERS_ONLY.test(value.replace(/[^A-Za-z0-9]+/g, ''))) {
    // Words and identifiers are letters only; so, rarely, is a long random key.
    if (n < 20 || WORDS.test(value)) return false;
    minEntropy = Math.max(minEntropy, 4);
  }
  if (PLACEHOLDER.test(value) || NAME_WORDS.test(value)) return false;
  if (MEMBER_PATH.test(value) || PATHISH.test(value) || CODEISH.test(value)) return false;
  // utf8Decoder, HmacSHA256: identifier-shaped. Long random strings can take that shape by chance.
  if (n <= 16 && (IDENT_WITH_NUMBER.test(value) || HASHLIKE_CONST.test(value))) return false;
  return shannonEntropy(value) >= entropyThreshold(n, minEntropy);
}

export type GenericFamily = 'generic_password' | 'generic_secret' | 'generic_token' | 'generic_api_key';

const KEY_FAMILIES: [RegExp, GenericFamily][] = [
  [/(?:^|_)(?:password|passwd|passphrase|pwd|pass)$/, 'generic_password'],
  [/(?:^|_)(?:secret|credentials?|secret_key|client_secret)$/, 'generic_secret'],
  [/(?:^|_)token$/, 'generic_token'],
  [
    /(?:^|_)(?:api_?key|access_?key|private_?key|auth_?key|signing_key|encryption_key|master_key|x_api_key)$/,
    'generic_api_key',
  ],
];

/**
 * The generic rule an object key names, if any: `password`, `dbPassword`, `AWS_SECRET`, `access_token`,
 * `x-api-key`. Keys that merely mention the word (`token_type`, `max_tokens`, `tokenizer`) do not count.
 */
export function familyOfKey(key: string): GenericFamily | undefined {
  if (key.length > 64) return undefined;
  const known = familyMemo.get(key);
  if (known !== undefined) return known || undefined;
  const norm = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[-\s.]+/g, '_');
  let found: GenericFamily | '' = '';
  for (const [re, family] of KEY_FAMILIES) {
    if (re.test(norm)) {
      found = family;
      break;
    }
  }
  if (familyMemo.size >= 10_000) familyMemo.clear();
  familyMemo.set(key, found);
  return found || undefined;
}

// Agents send the same few tool-input keys over and over.
const familyMemo = new Map<string, GenericFamily | ''>();
