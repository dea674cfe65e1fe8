// Stream hold-back: a response scanner releases every character no credential still arriving can
// include, and never a character of one before it is reported.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import { compileChain, createResponseScanner } from '../../src/guardrails/index.ts';
import { partialMatcher } from '../../src/guardrails/partial.ts';
import { SECRET_RULES } from '../../src/guardrails/secrets/rules.ts';
import { expand } from './fakes.ts';

const chain = compileChain(
  {
    apiVersion: 'portcullis.dev/v1',
    kind: 'GuardrailChain',
    metadata: { name: 'hold' },
    spec: { steps: [{ detector: 'secrets', stage: 'response', action: 'block' }] },
  },
  { cache: false, fingerprintSalt: 'holdback-test-salt-0123456789' },
);

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
    assert.equal(s.releasableTo('t'), `${prose} Use ghp_and more`.length - 2, 'a dead start is released');
  });

  test('a credential arriving over many deltas is never released before it is reported', () => {
    const prose = 'Here is what I found in the configuration file you asked about, line by line: ';
    for (const rule of SECRET_RULES) {
      const secret = expand(rule.sample);
      const text = `${prose}${secret}\nThat is all for now, and nothing else matters here at all.`;
      const full = createResponseScanner(chain, 'anthropic.messages');
      full.push('t', text);
      const found = (full.end() as { findings: { rule: string; start?: number }[] }).findings.find(
        (f) => f.rule === rule.id,
      );
      if (found === undefined) continue; // another rule took these characters
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
  });
});
