import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildSnapshot } from '../../src/policy/build-snapshot.ts';
import { readRegoSources } from '../../src/policy/compile.ts';
import { regoMayReadKeys } from '../../src/policy/data-needs.ts';
import { keyFacts } from '../../src/policy/key-facts.ts';
import { EXAMPLE_POLICY_DIR, examplePolicyCopy, TEST_KEYS } from '../fixtures/keys.ts';

const rego = (...texts: string[]) =>
  texts.map((t, i) => ({ path: `rego/p${i}.rego`, content: Buffer.from(`package x\n${t}\n`) }));

describe('which data the Rego may read', () => {
  test('the example policy never reads the keys from data', () => {
    assert.equal(regoMayReadKeys(readRegoSources(EXAMPLE_POLICY_DIR)), false);
  });

  test('any way of reaching data.portcullis.keys counts, comments do not', () => {
    const reads = [
      'owner := data.portcullis.keys[input.key.id].owner',
      'import data.portcullis.keys\nn := count(keys)',
      'import data.portcullis\nn := count(portcullis.keys)',
      'import data.portcullis as p\nn := count(p["ke" + "ys"])',
      'n := count(data.portcullis["keys"])',
      'all := data.portcullis',
      'all := data',
      'doc := data[input.root]',
      'n := count(object.keys(data.portcullis.teams))',
      's := "# not a comment"; n := count(data.portcullis.keys)',
    ];
    for (const text of reads) assert.equal(regoMayReadKeys(rego(text)), true, text);
    const doesNot = [
      '# the keys are in the input\nscope := data.portcullis.toolScopes[input.key.toolScope]',
      'import data.portcullis.teams\nt := teams[input.key.team]',
      'x := input.data.value # keys',
    ];
    for (const text of doesNot) assert.equal(regoMayReadKeys(rego(text)), false, text);
  });

  test('tests are not the policy; without sources the keys are included', () => {
    assert.equal(
      regoMayReadKeys([{ path: 'rego/a_test.rego', content: Buffer.from('n := data.portcullis.keys') }]),
      true,
      'no policy sources at all',
    );
    assert.equal(
      regoMayReadKeys([
        ...rego('scope := data.portcullis.toolScopes[input.key.toolScope]'),
        { path: 'rego/a_test.rego', content: Buffer.from('test_x if data.portcullis.keys') },
      ]),
      false,
    );
    assert.equal(regoMayReadKeys([]), true);
  });

  test('Rego that reads the keys gets them in its data', async () => {
    const { dir } = examplePolicyCopy();
    writeFileSync(
      join(dir, 'rego', 'peers.rego'),
      [
        'package portcullis.gateway',
        '',
        'warnings contains sprintf("team %s has %d keys", [input.key.team, n]) if {',
        '\tn := count([id | some id, k in data.portcullis.keys; k.team == input.key.team])',
        '}',
        '',
      ].join('\n'),
    );
    const snapshot = await buildSnapshot({ dir, cacheDir: mkdtempSync(join(tmpdir(), 'portcullis-cache-')) });
    try {
      const key = snapshot.keysByHash.get(createHash('sha256').update(TEST_KEYS.member).digest('hex'))!;
      const teamKeys = [...snapshot.keys.values()].filter((k) => k.team === key.team).length;
      const provider = snapshot.providerFor('anthropic', 'claude-haiku-4-5')!;
      const decision = snapshot.evaluate({
        surface: 'anthropic.messages',
        provider: provider.id,
        model: 'claude-haiku-4-5',
        stream: false,
        tools: [],
        sizes: { bodyBytes: 100, estimatedInputTokens: 10, maxOutputTokens: 100 },
        auth: { status: 'ok', enforced: true },
        key: keyFacts(key),
        usage: { budgets: [], rateLimits: [] },
        guardrails: { findings: [] },
      });
      assert.ok(teamKeys > 0);
      assert.ok(
        decision.warnings?.includes(`team ${key.team} has ${teamKeys} keys`),
        String(decision.warnings),
      );
    } finally {
      await snapshot.decider?.close();
    }
  });
});
