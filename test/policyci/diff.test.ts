import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { diffMarkdown } from '../../src/policyci/diff-report.ts';
import { diffPolicyDirs, type PolicyChange } from '../../src/policyci/semantic-diff.ts';
import { openSides } from '../../src/policyci/sides.ts';
import { CHAIN_YAML, fourChanges, policyRepo, runCli } from './helpers.ts';

const find = (changes: PolicyChange[], summary: string) => {
  const c = changes.find((x) => x.summary === summary);
  assert.ok(c, `no change "${summary}" in:\n${changes.map((x) => x.summary).join('\n')}`);
  return c;
};

describe('semantic policy diff', () => {
  test('explains each change in words and flags the ones that widen access or weaken a guardrail', async (t) => {
    const repo = fourChanges(t);
    const sides = await openSides(repo.commits[0], repo.commits[4], repo.policyDir);
    t.after(() => sides.close());
    const changes = diffPolicyDirs(sides.base.dir, sides.head.dir);

    assert.equal(find(changes, 'tool scope read-only: MCP tools allowed: */write_*').risk, true);
    assert.equal(find(changes, 'tool scope read-only: agent tools no longer denied: Bash').risk, true);
    assert.equal(find(changes, 'key bob-dev may now use models gpt-5').risk, true);
    const budget = find(changes, 'budget of team platform: 5000 → 4000 USD/month');
    assert.equal(budget.risk, false);
    assert.equal(budget.direction, 'narrow');
    assert.equal(find(changes, 'guardrail chain default: step 2 (pii, both, redact) removed').risk, true);
    assert.equal(
      find(changes, 'guardrail chain default: secrets step weakened from block to log').risk,
      true,
    );
    const disabled = find(changes, 'key carol-dev disabled');
    assert.equal(disabled.risk, false);
    assert.equal(changes.length, 7, changes.map((c) => c.summary).join('\n'));
  });

  test('the reverse change flags what is now risky: re-enabling, raising a budget, adding back a step', async (t) => {
    const repo = fourChanges(t);
    const sides = await openSides(repo.commits[4], repo.commits[0], repo.policyDir);
    t.after(() => sides.close());
    const changes = diffPolicyDirs(sides.base.dir, sides.head.dir);
    assert.equal(find(changes, 'key carol-dev re-enabled').risk, true);
    assert.equal(find(changes, 'budget of team platform: 4000 → 5000 USD/month').risk, true);
    assert.equal(find(changes, 'guardrail chain default: step 2 (pii, both, redact) added').risk, false);
    assert.equal(find(changes, 'key bob-dev may no longer use models gpt-5').risk, false);
  });

  test('gateway settings, rate limits, expiry, providers and Rego are covered', async (t) => {
    const repo = policyRepo(t);
    repo.write('guardrails/default.yaml', CHAIN_YAML);
    repo.edit('teams/acme.yaml', (s) =>
      s.replace(
        '  displayName: Platform Engineering\n',
        '  displayName: Platform Engineering\n  guardrailChain: default\n',
      ),
    );
    const base = repo.commit('Example policy');
    repo.edit('teams/acme.yaml', (s) => s.replace('  guardrailChain: default\n', ''));
    repo.edit('gateway.yaml', (s) =>
      s
        .replace('enforceAuthOnInference: true', 'enforceAuthOnInference: false')
        .replace('failMode: closed', 'failMode: open'),
    );
    repo.edit('keys/bots.yaml', (s) =>
      s
        .replace('requestsPerMinute: 30', 'requestsPerMinute: 90')
        .replace('  providers: [openai, anthropic]\n', ''),
    );
    repo.edit('keys/retired.yaml', (s) => s.replace('  expiresAt: "2026-06-30T23:59:59Z"\n', ''));
    repo.edit('rego/access.rego', (s) => `${s}\n# reviewed\n`);
    const head = repo.commit('Open things up');
    const sides = await openSides(base, head, repo.policyDir);
    t.after(() => sides.close());
    const changes = diffPolicyDirs(sides.base.dir, sides.head.dir);
    assert.equal(
      find(changes, 'gateway: enforceAuthOnInference turned off: calls without a key are no longer refused')
        .risk,
      true,
    );
    assert.equal(
      find(changes, 'gateway: failMode open: calls go through unchecked when a dependency is down').risk,
      true,
    );
    assert.equal(find(changes, 'rate limit of key ci-review-bot (requests per minute): 30 → 90').risk, true);
    assert.equal(
      find(changes, 'key ci-review-bot may now use every provider (was openai, anthropic)').risk,
      true,
    );
    assert.equal(
      find(changes, 'key erin-contractor no longer expires (was 2026-06-30T23:59:59Z)').risk,
      true,
    );
    assert.equal(
      find(changes, 'Rego file rego/access.rego changed (+2 −0 lines): decision logic changed').risk,
      true,
    );
  });

  test('identical trees have no changes; Markdown says so and puts risks first', async (t) => {
    const repo = fourChanges(t);
    const same = await openSides(repo.commits[1], repo.commits[1], repo.policyDir);
    t.after(() => same.close());
    assert.deepEqual(diffPolicyDirs(same.base.dir, same.head.dir), []);
    assert.match(diffMarkdown([], { base: 'a', head: 'b' }), /No policy changes/);

    const sides = await openSides(repo.commits[0], repo.commits[4], repo.policyDir);
    t.after(() => sides.close());
    const md = diffMarkdown(diffPolicyDirs(sides.base.dir, sides.head.dir), { base: 'main', head: 'pr' });
    const summary = md.split('\n').find((l) => l.startsWith('**'));
    assert.equal(summary, '**⚠️ 5 of 7 changes widen access or weaken a guardrail — review these:**');
    assert.ok(md.indexOf('⚠️ key bob-dev') < md.indexOf('key carol-dev disabled'));
  });

  test('a revision from before the policy directory existed diffs as an empty policy', async (t) => {
    const repo = policyRepo(t);
    renameSync(repo.policyDir, join(repo.root, 'held'));
    writeFileSync(join(repo.root, 'README.md'), 'hello\n');
    const before = repo.commit('README only');
    renameSync(join(repo.root, 'held'), repo.policyDir);
    const after = repo.commit('Example policy');
    const sides = await openSides(before, after, repo.policyDir);
    t.after(() => sides.close());
    const changes = diffPolicyDirs(sides.base.dir, sides.head.dir);
    assert.equal(find(changes, 'team platform added').risk, false);
    assert.ok(changes.some((c) => c.summary.startsWith('key bob-dev added') && c.risk));
  });

  test('CLI: policy diff between git revisions (markdown, json) and between two directories', async (t) => {
    const repo = fourChanges(t);
    const md = await runCli(
      ['policy', 'diff', repo.commits[0], repo.commits[4], '--dir', 'policies'],
      repo.root,
    );
    assert.equal(md.code, 0, md.stderr);
    assert.match(md.stdout, /budget of team platform: 5000 → 4000 USD\/month/);
    assert.match(md.stdout, /⚠️ guardrail chain default: step 2 \(pii, both, redact\) removed/);

    const json = await runCli(
      [
        'policy',
        'diff',
        `${repo.commits[2]}`,
        `${repo.commits[3]}`,
        '--dir',
        'policies',
        '--format',
        'json',
        '--fail-on-risk',
      ],
      repo.root,
    );
    assert.equal(json.code, 1, 'a risky change fails with --fail-on-risk');
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.risky, 2);
    assert.deepEqual(
      parsed.changes.map((c: PolicyChange) => c.field),
      ['steps', 'steps'],
    );

    const sides = await openSides(repo.commits[0], repo.commits[1], repo.policyDir);
    t.after(() => sides.close());
    const dirs = await runCli(['policy', 'diff', sides.base.dir, sides.head.dir]);
    assert.equal(dirs.code, 0, dirs.stderr);
    assert.match(dirs.stdout, /key bob-dev may now use models gpt-5/);

    const bad = await runCli(
      ['policy', 'diff', 'no-such-rev', repo.commits[0], '--dir', 'policies'],
      repo.root,
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown git revision 'no-such-rev'/);
  });
});
