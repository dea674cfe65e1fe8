// Stream hold-back: a response scanner releases every character no credential still arriving can
// include, and never a character of one before it is reported.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import { compileChain, createResponseScanner } from '../../src/guardrails/index.ts';
import { partialMatcher } from '../../src/guardrails/partial.ts';
import { SECRET_RULES } from '../../src/guardrails/secrets/rules.ts';
import { cardNumber, expand, ibanFor, randomFrom } from './fakes.ts';
import { feed, upTo } from './stream-feed.ts';

const ALNUM_UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A chain named `hold` of these steps. */
const chainOf = (steps: unknown[]) =>
  compileChain(
    {
      apiVersion: 'portcullis.dev/v1',
      kind: 'GuardrailChain',
      metadata: { name: 'hold' },
      spec: { steps },
    },
    { cache: false, fingerprintSalt: 'holdback-test-salt-0123456789' },
  );

const chain = chainOf([{ detector: 'secrets', stage: 'response', action: 'block' }]);

/** The findings of a scanner fed `text` whole. */
function wholeScan(text: string): { rule: string; start?: number }[] {
  const s = createResponseScanner(chain, 'anthropic.messages');
  const found = s.push('t', text);
  return [...found, ...(s.end() as { findings: { rule: string; start?: number }[] }).findings];
}

describe('partial matches', () => {
  const rule = (id: string) => SECRET_RULES.find((r) => r.id === id)!;
  const alive = (id: string, text: string) => {
    const re = partialMatcher(rule(id).pattern);
    re.lastIndex = 0;
    return re.test(text);
  };
  test('a token still arriving is alive; one that went another way is not', () => {
    assert.ok(alive('github_pat', 'gh'));
    assert.ok(alive('github_pat', 'ghp_a1B2'));
    assert.ok(!alive('github_pat', 'ghp_a1B2 '));
    assert.ok(!alive('github_pat', 'ghx'));
  });
  test('an assignment is alive until its value cannot be a secret', () => {
    assert.ok(alive('generic_password', 'password = "abc'));
    assert.ok(!alive('generic_password', 'password is required'));
  });
});

describe('release', () => {
  test('prose goes out at once, but for a keyword cut off at its end', () => {
    const s = createResponseScanner(chain, 'anthropic.messages');
    const prose = 'The build passed and the deploy is done!';
    s.push('t', prose);
    assert.equal(s.releasableTo('t'), prose.length);
    s.push('t', ' Use gh');
    assert.equal(s.releasableTo('t'), `${prose} Use `.length);
    s.push('t', 'p_');
    assert.equal(s.releasableTo('t'), `${prose} Use `.length, 'a token begun is held from its start');
    s.push('t', 'and more');
    // The word still arriving is held too: it may begin an Azure DevOps token, whose keyword comes 76
    // characters into it.
    assert.equal(s.releasableTo('t'), `${prose} Use ghp_and `.length, 'a dead start is released');
  });

  test('a credential arriving over many deltas is never released before it is reported', () => {
    let checked = 0;
    const prose = 'Here is what I found in the configuration file you asked about, line by line: ';
    for (const rule of SECRET_RULES) {
      const secret = expand(rule.sample);
      const text = `${prose}${secret}\nThat is all for now, and nothing else matters here at all.`;
      const found = wholeScan(text).find((f) => f.rule === rule.id);
      if (found === undefined) continue; // another rule took these characters
      checked++;
      const s = createResponseScanner(chain, 'anthropic.messages');
      let fed = 0;
      let reported = false;
      while (fed < text.length && !reported) {
        const n = 1 + randomInt(7);
        const delta = text.slice(fed, fed + n);
        fed += delta.length;
        reported = s.push('t', delta).some((f) => f.rule === rule.id);
        if (!reported)
          assert.ok(
            s.releasableTo('t') <= found.start!,
            `${rule.id}: released up to ${s.releasableTo('t')} of ${fed}, secret from ${found.start}`,
          );
      }
      if (!reported)
        reported = (s.end() as { findings: { rule: string }[] }).findings.some((f) => f.rule === rule.id);
      assert.ok(reported, rule.id);
    }
    assert.ok(checked > SECRET_RULES.length / 2, `only ${checked} credentials were found at all`);
  });
});

describe('release of encoded credentials', () => {
  test('no character of a base64-encoded credential goes out before it is reported, for every rule', () => {
    const prose = 'Here is the value from the vault, encoded as the deploy script expects it: ';
    let checked = 0;
    for (const rule of SECRET_RULES) {
      const secret = expand(rule.sample);
      // Encoded as a pipeline would: the credential alone, or as an assignment.
      for (const plain of [secret, `KEY=${secret}`]) {
        const encoded = Buffer.from(plain).toString('base64');
        const text = `${prose}${encoded} and that is the whole of it, nothing else to add here.`;
        const found = wholeScan(text).find((f) => f.rule === rule.id);
        if (found === undefined) continue; // decoded text another rule claims, or not printable
        assert.equal(found.start, prose.length, `${rule.id}: the finding covers the encoded run`);
        const r = feed(createResponseScanner(chain, 'anthropic.messages'), text, rule.id, upTo(3));
        assert.ok(r.reported, `${rule.id}: reported`);
        assert.ok(
          r.released <= prose.length,
          `${rule.id}: ${r.released - prose.length} characters of the encoded credential released`,
        );
        checked++;
      }
    }
    assert.ok(checked > 100, `only ${checked} encoded credentials were found at all`);
  });

  test('runs that cannot decode to text are released as they arrive', () => {
    // One rule, so that no other match in progress holds the words back.
    const github = chainOf([
      { detector: 'secrets', stage: 'response', action: 'block', rules: { include: ['github_pat'] } },
    ]);
    const s = createResponseScanner(github, 'anthropic.messages');
    // A path: a run of base64 characters, but not an encoding of text (`p` cannot begin one).
    const text = 'See packages/server-runtime/src/handlers/requestContextFactory';
    s.push('t', text);
    assert.equal(s.releasableTo('t'), text.length);
    // Could begin one (`d`), until its third character makes a byte that is not text (`dAA` → `t\0`).
    s.push('t', ' d');
    assert.equal(s.releasableTo('t'), text.length + 1);
    s.push('t', 'A');
    assert.equal(s.releasableTo('t'), text.length + 1);
    s.push('t', 'A');
    assert.equal(s.releasableTo('t'), text.length + 4);
  });
});

describe('release with PII, custom and Gitleaks steps', () => {
  const pii = chainOf([
    {
      detector: 'pii',
      stage: 'response',
      action: 'block',
      types: ['email', 'phone', 'ssn', 'payment_card', 'iban', 'ip_address'],
    },
  ]);

  test('prose with a PII step goes out at once, but for the word still arriving', () => {
    const s = createResponseScanner(pii, 'anthropic.messages');
    const prose = 'The build passed and the deploy is done, so the release can go out today. ';
    s.push('t', prose);
    assert.equal(s.releasableTo('t'), prose.length);
    s.push('t', 'Mail dana');
    assert.equal(s.releasableTo('t'), `${prose}Mail `.length, 'a word may be the start of an address');
    s.push('t', '.whitfield@acme');
    assert.equal(s.releasableTo('t'), `${prose}Mail `.length);
    s.push('t', '-corp.io about it, then call +1 415');
    assert.equal(s.releasableTo('t'), `${prose}Mail dana.whitfield@acme-corp.io about it, then call `.length);
  });

  test('no character of an address, phone number, card, IBAN or SSN goes out before it is reported', () => {
    const prose = 'Here are the details the customer gave us on the phone this morning: ';
    const samples: [string, string][] = [
      ['email', 'dana.whitfield@acme-corp.io'],
      ['phone', '+44 20 7946 0321'],
      ['phone', '(415) 867-5309'],
      ['payment_card', cardNumber('4', 16).replace(/(\d{4})(?=\d)/g, '$1 ')],
      ['iban', ibanFor('DE', 22).replace(/(\w{4})(?=\w)/g, '$1 ')],
      ['ssn', '536-22-8761'],
      ['ip_address', '203.0.113.77'.replace('203.0.113', '81.2.69')],
    ];
    for (const [rule, value] of samples) {
      for (let round = 0; round < 20; round++) {
        const text = `${prose}${value} and that is all we have on file for them.`;
        const r = feed(createResponseScanner(pii, 'anthropic.messages'), text, rule, upTo(2));
        assert.ok(r.reported, `${rule} ${value}: reported`);
        assert.ok(r.released <= prose.length, `${rule} ${value}: released up to ${r.released}`);
      }
    }
  });

  test('a custom rule longer than any fixed hold is held from its start, and prose is not held', () => {
    const custom = chainOf([
      {
        detector: 'regex',
        stage: 'response',
        action: 'block',
        rules: [{ name: 'license_blob', pattern: 'LIC1-[A-Z0-9]{400}' }],
      },
    ]);
    const prose = 'Your licence key for the build farm is below; paste it into the settings page. ';
    const s = createResponseScanner(custom, 'anthropic.messages');
    s.push('t', prose);
    assert.equal(s.releasableTo('t'), prose.length, 'nothing there can start a match');
    const blob = `LIC1-${randomFrom(ALNUM_UPPER, 400)}`;
    const r = feed(s, `${blob} and keep it safe.`, 'license_blob', upTo(9));
    assert.ok(r.reported);
    assert.ok(r.released <= prose.length, `released ${r.released - prose.length} characters of the blob`);
  });

  test('a Gitleaks rule is held only while its match may be arriving', () => {
    const gitleaks = chainOf([
      {
        detector: 'gitleaks',
        stage: 'response',
        action: 'block',
        config: [
          '[[rules]]',
          'id = "corp-token"',
          "regex = '''corp_[a-z0-9]{32}'''",
          'keywords = ["corp_"]',
        ].join('\n'),
      },
    ]);
    const prose = 'The corporate token for the staging cluster, as requested: ';
    const s = createResponseScanner(gitleaks, 'anthropic.messages');
    s.push('t', prose);
    assert.equal(s.releasableTo('t'), prose.length);
    const token = `corp_${randomFrom('abcdefghijklmnopqrstuvwxyz0123456789', 32)}`;
    const r = feed(s, `${token} — rotate it monthly.`, 'corp-token', upTo(3));
    assert.ok(r.reported);
    assert.ok(r.released <= prose.length);
  });
});
