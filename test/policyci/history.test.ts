import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openPolicyRepo } from '../../src/policyci/git-tree.ts';
import { policyHistory } from '../../src/policyci/history.ts';
import { fourChanges, runCli } from './helpers.ts';

describe('policy history', () => {
  test('a key: exactly the commits that touched it, newest first, with what changed', async (t) => {
    const repo = fourChanges(t);
    const entries = await policyHistory(await openPolicyRepo(repo.policyDir), 'VirtualKey/bob-dev');
    assert.deepEqual(
      entries.map((e) => e.commit),
      [repo.commits[1], repo.commits[0]],
    );
    assert.equal(entries[0].subject, 'Let bob use gpt-5 and write tools');
    assert.equal(entries[0].author, 'Pat Platform');
    assert.equal(entries[0].email, 'pat@acme.example');
    assert.equal(entries[0].date, '2026-01-02T10:00:00+00:00');
    assert.deepEqual(
      entries[0].changes.map((c) => [c.summary, c.risk]),
      [['key bob-dev may now use models gpt-5', true]],
    );
    assert.match(entries[1].changes[0].summary, /^key bob-dev added for bob@acme.example in team app-dev/);

    const carol = await policyHistory(await openPolicyRepo(repo.policyDir), 'VirtualKey/carol-dev');
    assert.deepEqual(
      carol.map((e) => e.commit),
      [repo.commits[4], repo.commits[0]],
    );
  });

  test('a team: its own changes and keys joining it, not changes to its keys', async (t) => {
    const repo = fourChanges(t);
    const platform = await policyHistory(await openPolicyRepo(repo.policyDir), 'Team/platform');
    assert.deepEqual(
      platform.map((e) => e.commit),
      [repo.commits[2], repo.commits[0]],
    );
    assert.deepEqual(
      platform[0].changes.map((c) => c.summary),
      ['budget of team platform: 5000 → 4000 USD/month'],
    );
    const appDev = await policyHistory(await openPolicyRepo(repo.policyDir), 'Team/app-dev');
    assert.deepEqual(
      appDev.map((e) => e.commit),
      [repo.commits[0]],
    );
  });

  test('CLI prints author, date, message and the changes; --json for tooling', async (t) => {
    const repo = fourChanges(t);
    const text = await runCli(['policy', 'history', '--team', 'platform'], repo.root);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /2026-01-03T10:00:00\+00:00 {2}Pat Platform <pat@acme.example>\n {4}Trim the platform budget\n {4}- budget of team platform: 5000 → 4000 USD\/month/,
    );
    const json = await runCli(
      ['policy', 'history', '--key', 'carol-dev', '--dir', 'policies', '--json'],
      repo.root,
    );
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.target, 'VirtualKey/carol-dev');
    assert.deepEqual(parsed.commits[0].changes[0].summary, 'key carol-dev disabled');
    const none = await runCli(['policy', 'history', '--key', 'nobody'], repo.root);
    assert.equal(none.code, 0);
    assert.match(none.stdout, /No commit changed VirtualKey\/nobody/);
    const both = await runCli(['policy', 'history', '--key', 'a', '--team', 'b'], repo.root);
    assert.equal(both.code, 2);
  });
});
