import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createFingerprinter } from '../../src/guardrails/fingerprint.ts';
import { PII_TYPES, PiiDetector } from '../../src/guardrails/pii/detector.ts';
import {
  cardBrand,
  e164Valid,
  IBAN_LENGTHS,
  ibanValid,
  ipv4Reportable,
  ipv6Reportable,
  luhnValid,
  nanpValid,
  paymentCardValid,
  ssnValid,
} from '../../src/guardrails/pii/validators.ts';
import { cardNumber, ibanFor } from './fakes.ts';

const fingerprint = createFingerprinter('test-salt-0123456789abcdef');
const all = new PiiDetector(PII_TYPES, { fingerprint });

function found(text: string, detector = all): string[] {
  return detector.scan(text).map((m) => `${m.rule}:${text.slice(m.start, m.end)}`);
}

describe('validators', () => {
  test('Luhn', () => {
    assert.equal(luhnValid('79927398713'), true);
    assert.equal(luhnValid('79927398710'), false);
    for (let i = 0; i < 20; i++) assert.equal(luhnValid(cardNumber('4', 16)), true);
    const good = cardNumber('5', 16);
    const bad = good.slice(0, -1) + ((Number(good.at(-1)) + 1) % 10);
    assert.equal(luhnValid(bad), false);
    assert.equal(luhnValid('12a4'), false);
  });

  test('payment cards need a known issuer range, a valid length and the checksum', () => {
    const cases: [string, number, string][] = [
      ['4', 16, 'visa'],
      ['4', 13, 'visa'],
      ['51', 16, 'mastercard'],
      ['2221', 16, 'mastercard'],
      ['2720', 16, 'mastercard'],
      ['34', 15, 'amex'],
      ['37', 15, 'amex'],
      ['6011', 16, 'discover'],
      ['65', 19, 'discover'],
      ['3528', 16, 'jcb'],
      ['36', 14, 'diners'],
      ['2200', 16, 'mir'],
    ];
    for (const [prefix, len, brand] of cases) {
      const n = cardNumber(prefix, len);
      assert.equal(cardBrand(n), brand, n);
      assert.equal(paymentCardValid(n), true, n);
    }
    assert.equal(paymentCardValid(cardNumber('1', 16)), false, 'no issuer starts with 1');
    assert.equal(paymentCardValid(cardNumber('4', 15)), false, 'Visa is never 15 digits');
    assert.equal(paymentCardValid(cardNumber('2721', 16)), false, 'past the Mastercard 2-series');
    assert.equal(paymentCardValid('4111111111111111'), false, 'one-digit run test pattern');
  });

  test('IBAN: country length and mod-97 check digits', () => {
    for (const [country, len] of Object.entries(IBAN_LENGTHS)) {
      const iban = ibanFor(country, len);
      assert.equal(ibanValid(iban), true, iban);
      const grouped = iban.replace(/(.{4})/g, '$1 ').trim();
      assert.equal(ibanValid(grouped), true, grouped);
    }
    const de = ibanFor('DE', 22);
    const wrongCheck = `${de.slice(0, 2)}${String((Number(de.slice(2, 4)) + 1) % 100).padStart(2, '0')}${de.slice(4)}`;
    assert.equal(ibanValid(wrongCheck), false);
    assert.equal(ibanValid(`${de}0`), false, 'too long for DE');
    assert.equal(ibanValid(`ZZ${de.slice(2)}`), false, 'unknown country');
    assert.equal(ibanValid(ibanFor('DE', 22).toLowerCase()), false);
  });

  test('SSN: issued area, group and serial ranges', () => {
    assert.equal(ssnValid('536-22-8731'), true);
    assert.equal(ssnValid('899-99-9999'), true);
    assert.equal(ssnValid('000-22-8731'), false);
    assert.equal(ssnValid('666-22-8731'), false);
    assert.equal(ssnValid('900-22-8731'), false);
    assert.equal(ssnValid('536-00-8731'), false);
    assert.equal(ssnValid('536-22-0000'), false);
    assert.equal(ssnValid('078-05-1120'), false, 'the Woolworth wallet card number');
    assert.equal(ssnValid('536228731'), false);
  });

  test('phone numbering plans', () => {
    assert.equal(nanpValid('415', '867', '5309'), true);
    assert.equal(nanpValid('115', '867', '5309'), false, 'area codes start 2-9');
    assert.equal(nanpValid('911', '867', '5309'), false, 'N11 service code');
    assert.equal(nanpValid('415', '555', '0142'), false, '555-01xx is reserved for fiction');
    assert.equal(e164Valid('+44 20 7946 0958'), true);
    assert.equal(e164Valid('+1 (415) 867-5309'), true);
    assert.equal(e164Valid('+1 415 555 0123'), false);
    assert.equal(e164Valid('+15555555'), false, 'too short for +1');
    assert.equal(e164Valid('+80 1234 5678'), false, 'no country code 80');
    assert.equal(e164Valid('+44 -- 20 7946'), false);
  });

  test('addresses: public only by default', () => {
    assert.equal(ipv4Reportable('93.184.216.34', false), true);
    for (const a of [
      '10.1.2.3',
      '127.0.0.1',
      '192.168.1.10',
      '172.20.0.5',
      '169.254.1.1',
      '100.64.0.1',
      '192.0.2.44',
      '203.0.113.9',
      '224.0.0.1',
      '0.0.0.0',
      '8.8.8.8',
    ]) {
      assert.equal(ipv4Reportable(a, false), false, a);
    }
    assert.equal(ipv4Reportable('10.1.2.3', true), true);
    assert.equal(ipv4Reportable('1.02.3.4', true), false, 'leading zeros are not addresses');
    assert.equal(ipv4Reportable('256.1.1.1', true), false);
    assert.equal(ipv6Reportable('2a00:1450:4001:82a::200e', false), true);
    for (const a of [
      '2001:db8::1',
      '3fff:0abc::1',
      '::1',
      'fe80::1',
      'fd12:3456::1',
      '2001:4860:4860::8888',
    ]) {
      assert.equal(ipv6Reportable(a, false), false, a);
    }
    assert.equal(ipv6Reportable('fe80::1%eth0', true), true);
  });
});

describe('PII detector', () => {
  test('finds each kind in prose', () => {
    const card = cardNumber('4', 16);
    const iban = ibanFor('GB', 22);
    const text = [
      'Contact dana.whitfield@acme-corp.io,',
      'phone +44 20 7946 0958 or (415) 867-5309 or 415.867.5309 or 020 7946 0958,',
      `SSN 536-22-8731, card ${card.replace(/(\d{4})/g, '$1 ').trim()}, IBAN ${iban},`,
      'server 93.184.216.34 and 2a00:1450:4001:82a::200e.',
    ].join(' ');
    assert.deepEqual(found(text), [
      'email:dana.whitfield@acme-corp.io',
      'phone:+44 20 7946 0958',
      'phone:(415) 867-5309',
      'phone:415.867.5309',
      'phone:020 7946 0958',
      'ssn:536-22-8731',
      `payment_card:${card.replace(/(\d{4})/g, '$1 ').trim()}`,
      `iban:${iban}`,
      'ip_address:93.184.216.34',
      'ip_address:2a00:1450:4001:82a::200e',
    ]);
  });

  test('only the configured kinds', () => {
    const emailOnly = new PiiDetector(['email'], { fingerprint });
    assert.deepEqual(found('a.b@acme-corp.io 536-22-8731 93.184.216.34', emailOnly), [
      'email:a.b@acme-corp.io',
    ]);
  });

  test('version strings, hashes, UUIDs, timestamps and code are not personal data', () => {
    const code = [
      'bump to v1.2.3.4 (version 5.6.7.8); see RFC 7231 section 3.1.1.1 and step 12.1.1.3',
      'lodash@4.17.21 @types/node npm:left-pad@1.3.0 git@github.com:acme/api.git',
      'commit 4f2a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a uuid 123e4567-e89b-12d3-a456-426614174000',
      'at 2024-01-15 10:30:00, ts 1700000000000, ids 98765432101234, 12:34:56',
      'std::vector<int> v; a[::2]; x = 0x7fffffff; const n = 4294967295;',
      'ping 127.0.0.1 and 10.0.0.12 and 192.168.1.1; user@example.com and noreply@acme.io',
      'OID 1.3.6.1.4.1.311 and 1.2.3.4.5 and 4.2.6.1',
    ].join('\n');
    assert.deepEqual(found(code), []);
  });

  test('private addresses when asked', () => {
    const withPrivate = new PiiDetector(['ip_address'], { fingerprint, includePrivateIps: true });
    assert.deepEqual(found('ping 10.0.0.12 and fe80::1ff:fe23:4567:890a', withPrivate), [
      'ip_address:10.0.0.12',
      'ip_address:fe80::1ff:fe23:4567:890a',
    ]);
  });

  test('JSON-escaped text keeps its boundaries', () => {
    const text = JSON.stringify({ out: 'call\n415-867-5309\nmail\ndana@acme-corp.io\n' });
    assert.deepEqual(found(text), ['phone:415-867-5309', 'email:dana@acme-corp.io']);
  });
});
