// Checks that turn "looks like a number" into "is personal data": checksums, issuer ranges, numbering
// plans and address ranges. Each takes the candidate as matched and answers yes or no.
import { isIPv6 } from 'node:net';

/** Luhn (mod 10) checksum over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

// Issuer identification number ranges: [from, to] over the first `digits` digits, and allowed lengths.
const CARD_RANGES: { brand: string; digits: number; from: number; to: number; lengths: number[] }[] = [
  { brand: 'visa', digits: 1, from: 4, to: 4, lengths: [13, 16, 19] },
  { brand: 'mastercard', digits: 2, from: 51, to: 55, lengths: [16] },
  { brand: 'mastercard', digits: 4, from: 2221, to: 2720, lengths: [16] },
  { brand: 'amex', digits: 2, from: 34, to: 34, lengths: [15] },
  { brand: 'amex', digits: 2, from: 37, to: 37, lengths: [15] },
  { brand: 'discover', digits: 4, from: 6011, to: 6011, lengths: [16, 17, 18, 19] },
  { brand: 'discover', digits: 3, from: 644, to: 649, lengths: [16, 17, 18, 19] },
  { brand: 'discover', digits: 2, from: 65, to: 65, lengths: [16, 17, 18, 19] },
  { brand: 'unionpay', digits: 2, from: 62, to: 62, lengths: [16, 17, 18, 19] },
  { brand: 'jcb', digits: 4, from: 3528, to: 3589, lengths: [16, 17, 18, 19] },
  { brand: 'diners', digits: 3, from: 300, to: 305, lengths: [14, 15, 16, 17, 18, 19] },
  { brand: 'diners', digits: 2, from: 36, to: 36, lengths: [14, 15, 16, 17, 18, 19] },
  { brand: 'diners', digits: 2, from: 38, to: 39, lengths: [14, 15, 16, 17, 18, 19] },
  { brand: 'mir', digits: 4, from: 2200, to: 2204, lengths: [16, 17, 18, 19] },
  { brand: 'maestro', digits: 4, from: 5018, to: 5018, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { brand: 'maestro', digits: 4, from: 5020, to: 5020, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { brand: 'maestro', digits: 4, from: 5038, to: 5038, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { brand: 'maestro', digits: 4, from: 6304, to: 6304, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { brand: 'maestro', digits: 4, from: 6759, to: 6759, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { brand: 'maestro', digits: 4, from: 6761, to: 6763, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
];

/** The card brand whose issuer range and length fit these digits, if any. */
export function cardBrand(digits: string): string | undefined {
  for (const r of CARD_RANGES) {
    const prefix = Number(digits.slice(0, r.digits));
    if (prefix >= r.from && prefix <= r.to && r.lengths.includes(digits.length)) return r.brand;
  }
  return undefined;
}

/** A payment card number: known issuer range and length, Luhn-valid, not a run of one digit. */
export function paymentCardValid(digits: string): boolean {
  return cardBrand(digits) !== undefined && luhnValid(digits) && !/^(\d)\1+$/.test(digits.slice(1));
}

/** IBAN length per country (ISO 13616 registry). */
export const IBAN_LENGTHS: Record<string, number> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BI: 27,
  BR: 29,
  BY: 28,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DJ: 27,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FK: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IQ: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LC: 32,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  LY: 25,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MN: 20,
  MR: 27,
  MT: 31,
  MU: 30,
  NI: 28,
  NL: 18,
  NO: 15,
  OM: 23,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  RU: 33,
  SA: 24,
  SC: 31,
  SD: 18,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  SO: 23,
  ST: 25,
  SV: 28,
  TL: 23,
  TN: 24,
  TR: 26,
  UA: 29,
  VA: 22,
  VG: 24,
  XK: 20,
  YE: 30,
};

/** ISO 7064 mod 97-10 over an IBAN (no spaces), after moving the first four characters to the end. */
export function ibanMod97(compact: string): number {
  const s = compact.slice(4) + compact.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    else return -1;
  }
  return rem;
}

/** A valid IBAN: known country, that country's length, check digits that verify. */
export function ibanValid(iban: string): boolean {
  const compact = iban.replace(/ /g, '');
  const len = IBAN_LENGTHS[compact.slice(0, 2)];
  return (
    len !== undefined &&
    compact.length === len &&
    /^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(compact) &&
    ibanMod97(compact) === 1
  );
}

// Numbers the SSA never issues or that are widely published examples.
const SSN_EXAMPLES = new Set(['078-05-1120', '219-09-9999', '123-45-6789']);

/** A US social security number in ddd-dd-dddd form within the issued ranges. */
export function ssnValid(ssn: string): boolean {
  const m = /^(\d{3})-(\d{2})-(\d{4})$/.exec(ssn);
  if (!m) return false;
  const area = Number(m[1]);
  if (area === 0 || area === 666 || area >= 900) return false;
  if (m[2] === '00' || m[3] === '0000') return false;
  return !SSN_EXAMPLES.has(ssn);
}

/** A North American (NANP) number: valid area code and exchange, not a service code or 555-01xx fiction. */
export function nanpValid(area: string, exchange: string, line: string): boolean {
  if (!/^[2-9][0-8]\d$/.test(area) || !/^[2-9]\d\d$/.test(exchange)) return false;
  if (area[1] === '1' && area[2] === '1') return false;
  if (exchange[1] === '1' && exchange[2] === '1') return false;
  return !(exchange === '555' && line.startsWith('01'));
}

// E.164 country calling codes: all one- and two-digit codes, and the two-digit prefixes of three-digit ones.
const CC1 = new Set(['1', '7']);
const CC2 = new Set([
  '20',
  '27',
  '30',
  '31',
  '32',
  '33',
  '34',
  '36',
  '39',
  '40',
  '41',
  '43',
  '44',
  '45',
  '46',
  '47',
  '48',
  '49',
  '51',
  '52',
  '53',
  '54',
  '55',
  '56',
  '57',
  '58',
  '60',
  '61',
  '62',
  '63',
  '64',
  '65',
  '66',
  '81',
  '82',
  '84',
  '86',
  '90',
  '91',
  '92',
  '93',
  '94',
  '95',
  '98',
]);
const CC3_PREFIX = new Set([
  '21',
  '22',
  '23',
  '24',
  '25',
  '26',
  '29',
  '35',
  '37',
  '38',
  '42',
  '50',
  '59',
  '67',
  '68',
  '69',
  '85',
  '87',
  '88',
  '96',
  '97',
  '99',
]);

/** An international number written with a leading +: real country code, 8–15 digits, tidy separators. */
export function e164Valid(written: string): boolean {
  const digits = written.replace(/\D/g, '');
  if (digits.length < 8 || digits.length > 15) return false;
  if (!(CC1.has(digits[0]) || CC2.has(digits.slice(0, 2)) || CC3_PREFIX.has(digits.slice(0, 2))))
    return false;
  if (CC1.has(digits[0]) && digits.length !== 11) return false;
  if (digits[0] === '1' && !nanpValid(digits.slice(1, 4), digits.slice(4, 7), digits.slice(7))) return false;
  // Single separators between digit groups; at most one parenthesised group, which may have a space
  // on either side: `+1 (415) 867-5309`, `+44 20 7946 0958`, `+49-30-1234567`.
  const tidy = written.replace(/ \(/g, '(').replace(/\) /g, ')');
  if (/[ .-]{2,}|[ .-]\(|\)[ .-]|\(\)/.test(tidy)) return false;
  const opens = tidy.split('(').length - 1;
  const closes = tidy.split(')').length - 1;
  return opens === closes && opens <= 1 && (opens === 0 || /\(\d+\)/.test(tidy));
}

/** A 0-trunk national number (UK, EU, AU…) of 10 or 11 digits. */
export function trunkValid(written: string): boolean {
  const digits = written.replace(/\D/g, '');
  return digits.length >= 10 && digits.length <= 11 && !/^0+$/.test(digits.slice(1));
}

const PUBLIC_DNS = new Set([
  '8.8.8.8',
  '8.8.4.4',
  '1.1.1.1',
  '1.0.0.1',
  '9.9.9.9',
  '149.112.112.112',
  '208.67.222.222',
  '208.67.220.220',
]);

/** Parses dotted-quad IPv4 (no leading zeros); undefined when it is not one. */
export function parseIpv4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

/** Loopback, private, shared, link-local, documentation, benchmarking, multicast or reserved. */
export function ipv4Special([a, b, c]: number[]): boolean {
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 0 && (c === 0 || c === 2)) ||
    (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19)) ||
    (a === 198 && b === 51 && c === 100) ||
    (a === 203 && b === 0 && c === 113)
  );
}

/** Whether a dotted quad identifies someone: a valid address, public unless `includePrivate`. */
export function ipv4Reportable(s: string, includePrivate: boolean): boolean {
  const parts = parseIpv4(s);
  if (!parts) return false;
  if (includePrivate) return true;
  return !ipv4Special(parts) && !PUBLIC_DNS.has(s);
}

/** Whether an IPv6 address is reportable: valid, and global unicast (2000::/3 minus documentation) unless `includePrivate`. */
export function ipv6Reportable(s: string, includePrivate: boolean): boolean {
  const addr = s.replace(/%[\w.-]+$/, '');
  if (!isIPv6(addr)) return false;
  if (includePrivate) return true;
  const lower = addr.toLowerCase();
  const groups = lower.split(':');
  const first = Number.parseInt(groups[0] || '0', 16);
  const second = Number.parseInt(groups[1] || '0', 16);
  if (first < 0x2000 || first > 0x3fff) return false;
  // Documentation prefixes 2001:db8::/32 and 3fff::/20.
  if ((first === 0x2001 && second === 0xdb8) || (first === 0x3fff && second <= 0xfff)) return false;
  return ![
    '2001:4860:4860::8888',
    '2001:4860:4860::8844',
    '2606:4700:4700::1111',
    '2606:4700:4700::1001',
  ].includes(lower);
}
