import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RegexDetector } from '../../src/guardrails/custom.ts';
import { createFingerprinter } from '../../src/guardrails/fingerprint.ts';
import { maxMatchLength, parseRegex, regexProblem } from '../../src/guardrails/regex-safety.ts';

const fingerprint = createFingerprinter('regex-test-salt-0123456789');

describe('regex safety', () => {
  test('refuses patterns that backtrack catastrophically', () => {
    for (const p of [
      '(a+)+b',
      '(\\w+)*$',
      '([a-z0-9]+[-.]?)*@',
      '(x+x+)+y',
      '(a|a)*b',
      '(ab|a)*c',
      '^(a|b|ab)+$',
      '(\\w|\\d)+!',
    ]) {
      assert.ok(regexProblem(p, ''), `accepted ${p}`);
    }
  });

  test('accepts ordinary patterns, lazy quantifiers, lookbehind and named groups', () => {
    for (const p of [
      'ticket-\\d{4,}',
      'password\\s*=\\s*\\S+',
      '(?<![A-Za-z0-9])acme_[a-f0-9]{32}',
      '(?:foo|bar)+baz',
      'BEGIN.*?END',
      '(?<secret>[A-Z]{3}-\\d{6})',
      '(?:\\r\\n|\\n)+',
      '\\p{Lu}{3}\\d{4}',
    ]) {
      assert.equal(regexProblem(p, 'u'), undefined, p);
    }
  });

  test('refuses the empty match and invalid syntax', () => {
    assert.match(regexProblem('x*', '')!, /empty string/);
    assert.match(regexProblem('(', '')!, /not a valid regular expression/);
  });

  test('knows how long a match can be', () => {
    assert.equal(maxMatchLength(parseRegex('\\d{3}-\\d{2}-\\d{4}', '')), 11);
    assert.equal(maxMatchLength(parseRegex('(?<=x)ab', '')), 2);
    assert.equal(maxMatchLength(parseRegex('a+', '')), Number.POSITIVE_INFINITY);
  });
});

describe('custom regex detector', () => {
  test('reports each match under its rule name; a `secret` group narrows the span; flags apply', () => {
    const d = new RegexDetector(
      [
        { name: 'ticket', pattern: 'ticket-\\d+', flags: 'i' },
        { name: 'employee_id', pattern: 'EMP-(?<secret>\\d{6})' },
      ],
      fingerprint,
    );
    const text = 'TICKET-42 for EMP-123456, ticket-7';
    assert.deepEqual(
      d.scan(text).map((m) => [m.rule, m.type, text.slice(m.start, m.end)]),
      [
        ['ticket', 'custom', 'TICKET-42'],
        ['employee_id', 'custom', '123456'],
        ['ticket', 'custom', 'ticket-7'],
      ],
    );
    assert.equal(d.maxMatchLength, 4096);
  });

  test('rejects a rule with a clear message', () => {
    assert.throws(
      () => new RegexDetector([{ name: 'bad', pattern: '(a+)+$' }], fingerprint),
      /rule 'bad': pattern rejected: it can backtrack/,
    );
    assert.throws(
      () => new RegexDetector([{ name: 'f', pattern: 'a', flags: 'ii' }], fingerprint),
      /rule 'f': flags must be a subset/,
    );
  });
});
