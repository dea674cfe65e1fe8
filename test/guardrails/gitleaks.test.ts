// A Gitleaks rule pack imported as a guardrail step: its rules, keywords, entropy and allowlists behave
// as in Gitleaks, and `policy validate` refuses a pack it cannot run safely, naming the rule.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { goRegexToJs } from '../../src/guardrails/gitleaks.ts';
import { compileChain, scanRequest } from '../../src/guardrails/index.ts';
import { checkPolicy } from '../../src/policy/build-snapshot.ts';
import { formatProblem } from '../../src/policy/problems.ts';
import { policyCopy } from '../policy/helpers.ts';
import { randomFrom } from './fakes.ts';

const LOWERNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

const PACK = `
title = "acme secrets"

[extend]
useDefault = true

[[rules]]
id = "acme-internal-token"
description = "ACME internal service token"
regex = '''(?i)\\b(acme_[a-z0-9]{32})(?:['"\\s;]|$)'''
keywords = ["acme_"]

[[rules]]
id = "acme-deploy-password"
description = "deploy password assigned in config"
regex = '''(?i)deploy[_-]?pass(?:word)?\\s*[:=]\\s*['"]?(?P<pw>[^\\s'"]{8,64})'''
secretGroup = 1
entropy = 3.0
keywords = ["deploy"]
  [[rules.allowlists]]
  stopwords = ["changeme", "example"]

[[rules]]
id = "acme-lockfiles"
description = "lock files (a path rule)"
path = '''(?:^|/)acme\\.lock$'''

[allowlist]
description = "global"
paths = ['''(?:^|/)vendor/''']
regexes = ['''acme_0{32}''']
`;

function chainOf(config: string, extra: Record<string, unknown> = {}) {
  return compileChain(
    {
      apiVersion: 'portcullis.dev/v1',
      kind: 'GuardrailChain',
      metadata: { name: 'gl' },
      spec: { steps: [{ detector: 'gitleaks', action: 'block', config, ...extra }] },
    },
    { cache: false, fingerprintSalt: 'gitleaks-test-salt-0123456789' },
  );
}

async function found(text: string, config = PACK): Promise<string[]> {
  const { findings } = await scanRequest(chainOf(config), 'openai.chat', {
    messages: [{ role: 'user', content: text }],
  });
  return findings.map((f) => `${f.rule}:${f.type}`);
}

describe('gitleaks rule packs', () => {
  test('a rule with keywords, a capture group and (?i) finds its token', async () => {
    assert.deepEqual(await found(`token = "ACME_${randomFrom(LOWERNUM, 32)}"`), [
      'acme-internal-token:secret',
    ]);
  });

  test('secretGroup and entropy decide what is reported', async () => {
    const text = `deploy_password: ${randomFrom(LOWERNUM, 20)}`;
    const { findings } = await scanRequest(chainOf(PACK), 'openai.chat', {
      messages: [{ role: 'user', content: text }],
    });
    assert.equal(findings.length, 1);
    assert.equal(text.slice(findings[0].start, findings[0].end), text.split(': ')[1]);
    assert.deepEqual(await found('deploy_password: aaaaaaaaaaaa'), [], 'below the entropy');
  });

  test('rule stopwords and global regexes allow', async () => {
    assert.deepEqual(await found('deploy_password: Changeme-2024-xyz'), []);
    assert.deepEqual(await found(`token acme_${'0'.repeat(32)} here`), []);
  });

  test('rules run only where a keyword occurs; path-only rules and path allowlists do not apply', async () => {
    assert.deepEqual(await found('nothing to see in acme.lock'), []);
    const chain = chainOf(PACK);
    const step = chain.steps[0].text as unknown as { config: { skipped: unknown } };
    assert.deepEqual(step.config.skipped, [{ id: 'acme-lockfiles', reason: 'matches file paths only' }]);
  });

  test('Go syntax is translated', () => {
    assert.deepEqual(goRegexToJs('(?i)(?P<k>[[:alnum:]]{4})\\z'), {
      source: '(?<k>[A-Za-z0-9]{4})$',
      flags: 'i',
    });
    assert.throws(() => goRegexToJs('a(?i)b'), /in the middle of the pattern/);
  });

  test('bad packs are refused naming the rule', () => {
    assert.throws(() => chainOf('[[rules]]\nregex = "x"'), /rules\[0\] has no id/);
    assert.throws(() => chainOf("[[rules]]\nid = 'slow'\nregex = '''(a+)+$'''"), /rule slow: regex refused/);
    assert.throws(() => chainOf('rules = ['), /not valid TOML/);
    assert.throws(() => chainOf(PACK, { exclude: ['nope'] }), /exclude names nope/);
  });

  test('an unsafe rule can be excluded', async () => {
    const pack = `${PACK}\n[[rules]]\nid = "slow"\nregex = '''(a+)+$'''\n`;
    assert.throws(() => chainOf(pack), /rule slow/);
    assert.doesNotThrow(() => chainOf(pack, { exclude: ['slow'] }));
  });

  test('policy validate reports an unsafe pack at its step', () => {
    const dir = policyCopy();
    writeFileSync(
      join(dir, 'gitleaks-chain.yaml'),
      [
        'apiVersion: portcullis.dev/v1',
        'kind: GuardrailChain',
        'metadata:',
        '  name: imported',
        'spec:',
        '  steps:',
        '    - detector: gitleaks',
        '      action: block',
        '      config: |',
        '        [[rules]]',
        '        id = "bad"',
        "        regex = '''(x+x+)+y'''",
        '',
      ].join('\n'),
    );
    const problems = checkPolicy(dir).problems.map((p) => formatProblem(p));
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], /^gitleaks-chain\.yaml:7:\d+: .*rule bad: regex refused/);
  });
});
