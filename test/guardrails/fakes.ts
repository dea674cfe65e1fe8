// Fake credentials generated at test time in each rule's real format (random characters from the
// right alphabet), so no real-looking secret literal is ever committed.
import { randomInt } from 'node:crypto';
import { ALPHABETS } from '../../src/guardrails/secrets/rule-kit.ts';

export function randomFrom(alphabet: string, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[randomInt(alphabet.length)];
  return s;
}

function pemBody(): string {
  const lines: string[] = [];
  for (let i = 0; i < 12; i++) lines.push(randomFrom(ALPHABETS.b64, 64));
  return lines.join('\n');
}

function jwt(): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const header = enc({ alg: 'HS256', typ: 'JWT' });
  const payload = enc({ sub: randomFrom(ALPHABETS.alnum, 12), iat: 1700000000 + randomInt(1e6) });
  return `${header}.${payload}.${randomFrom(ALPHABETS.b64url, 43)}`;
}

/** Expands a rule's sample template into a fresh fake credential of that format. */
export function expand(template: string): string {
  return template.replace(/\{(\w+)(?::(\d+))?\}/g, (_, kind: string, n?: string) => {
    if (kind === 'pem') return pemBody();
    if (kind === 'jwt') return jwt();
    if (kind === 'snowflake')
      return Buffer.from(`${1 + randomInt(9)}${randomFrom(ALPHABETS.digit, 17)}`).toString('base64url');
    if (kind === 'basicauth')
      return Buffer.from(`${randomFrom(ALPHABETS.lower, 8)}:${randomFrom(ALPHABETS.alnum, 14)}`).toString(
        'base64',
      );
    const alphabet = ALPHABETS[kind];
    if (!alphabet) throw new Error(`unknown sample placeholder ${kind}`);
    return randomFrom(alphabet, Number(n));
  });
}

/**
 * The same template with every random run replaced by one repeated character: the shape of the
 * format without its randomness, as in documentation placeholders (`ghp_xxxxxxxx…`).
 */
export function placeholder(template: string): string {
  return template.replace(/\{(\w+)(?::(\d+))?\}/g, (_, kind: string, n?: string) => {
    if (kind === 'pem') return Array.from({ length: 12 }, () => 'x'.repeat(64)).join('\n');
    if (kind === 'jwt') return `eyJ${'x'.repeat(30)}.eyJ${'x'.repeat(40)}.${'x'.repeat(43)}`;
    if (kind === 'basicauth') return Buffer.from('user:xxxxxxxx').toString('base64');
    if (kind === 'snowflake') return 'x'.repeat(24);
    const alphabet = ALPHABETS[kind];
    const ch = alphabet.includes('x') ? 'x' : alphabet.includes('X') ? 'X' : alphabet[0];
    return ch.repeat(Number(n));
  });
}

/** A valid payment card number of `length` digits starting with `prefix` (Luhn check digit computed). */
export function cardNumber(prefix: string, length: number): string {
  let body = prefix + randomFrom(ALPHABETS.digit, length - prefix.length - 1);
  // Avoid the all-one-digit runs the validator rejects as test patterns.
  if (/^(\d)\1+$/.test(body.slice(1))) body = `${body.slice(0, -1)}${(Number(body.at(-1)) + 1) % 10}`;
  for (let d = 0; d <= 9; d++) {
    const candidate = body + d;
    let sum = 0;
    for (let i = candidate.length - 1, dbl = false; i >= 0; i--, dbl = !dbl) {
      let v = Number(candidate[i]);
      if (dbl) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
      sum += v;
    }
    if (sum % 10 === 0) return candidate;
  }
  throw new Error('unreachable');
}

/** A valid IBAN for `country` with a random BBAN of the right length (digits only). */
export function ibanFor(country: string, length: number): string {
  const bban = randomFrom(ALPHABETS.digit, length - 4);
  const numeric = [...`${bban}${country}00`]
    .map((c) => (/[A-Z]/.test(c) ? String(c.charCodeAt(0) - 55) : c))
    .join('');
  let rem = 0;
  for (const ch of numeric) rem = (rem * 10 + Number(ch)) % 97;
  return `${country}${String(98 - rem).padStart(2, '0')}${bban}`;
}
