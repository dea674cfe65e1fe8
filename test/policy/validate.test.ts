import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { checkPolicy } from '../../src/policy/build-snapshot.ts';
import { formatProblem } from '../../src/policy/problems.ts';
import { EXAMPLE_POLICY_DIR } from '../fixtures/keys.ts';
import { edit, lineOf, policyCopy } from './helpers.ts';

function problemsOf(dir: string): string[] {
  return checkPolicy(dir).problems.map((p) => formatProblem(p));
}

describe('policy validation', () => {
  test('the example policy is valid', () => {
    assert.deepEqual(problemsOf(EXAMPLE_POLICY_DIR), []);
  });

  test('a schema violation names file, line, column and field', () => {
    const dir = policyCopy();
    edit(dir, 'keys/bots.yaml', (t) => t.replace('owner: platform-bots@acme.example', 'owner: 42'));
    const line = lineOf(dir, 'keys/bots.yaml', 'owner: 42');
    assert.deepEqual(problemsOf(dir), [`keys/bots.yaml:${line}:10: spec.owner: must be a string`]);
  });

  test('an unknown field points at the field name', () => {
    const dir = policyCopy();
    edit(dir, 'keys/bots.yaml', (t) => t.replace('  owner: platform', '  ownr: x\n  owner: platform'));
    const line = lineOf(dir, 'keys/bots.yaml', 'ownr: x');
    assert.deepEqual(problemsOf(dir), [`keys/bots.yaml:${line}:3: spec.ownr: unknown field 'ownr'`]);
  });

  test('all problems are reported at once', () => {
    const dir = policyCopy();
    edit(dir, 'keys/bots.yaml', (t) =>
      t.replace('team: platform', 'team: nowhere').replace('toolScope: read-only', 'toolScope: nope'),
    );
    edit(dir, 'teams/acme.yaml', (t) => t.replace('period: daily', 'period: hourly'));
    const problems = problemsOf(dir);
    assert.equal(problems.length, 1, 'schema errors stop cross-checks so they are not misleading');
    assert.match(
      problems[0],
      /^teams\/acme\.yaml:\d+:\d+: spec\.budgets\[1\]\.period: must be one of: daily, weekly/,
    );
    edit(dir, 'teams/acme.yaml', (t) => t.replace('period: hourly', 'period: daily'));
    const refs = problemsOf(dir);
    assert.deepEqual(
      refs.map((p) => p.replace(/:\d+:\d+:/, ':L:C:')),
      [
        "keys/bots.yaml:L:C: spec.team: refers to Team 'nowhere', which is not defined",
        "keys/bots.yaml:L:C: spec.toolScope: refers to ToolScope 'nope', which is not defined",
      ],
    );
  });

  test('unknown kind, wrong apiVersion', () => {
    const dir = policyCopy();
    writeFileSync(
      join(dir, 'extra.yaml'),
      'apiVersion: portcullis.dev/v1\nkind: Budget\nmetadata: {name: x}\nspec: {}\n---\napiVersion: v2\nkind: Team\nmetadata: {name: y}\nspec: {}\n',
    );
    const problems = problemsOf(dir);
    assert.equal(problems.length, 2);
    assert.match(problems[0], /^extra\.yaml:2:7: kind: unknown kind "Budget"; expected one of .*VirtualKey/);
    assert.match(problems[1], /^extra\.yaml:6:13: apiVersion: must be 'portcullis\.dev\/v1'/);
  });

  test('duplicate ids and duplicate key hashes', () => {
    const dir = policyCopy();
    edit(dir, 'keys/app-dev.yaml', (t) => t.replace('name: carol-dev', 'name: bob-dev'));
    const problems = problemsOf(dir);
    assert.equal(problems.length, 1);
    assert.match(
      problems[0],
      /^keys\/app-dev\.yaml:\d+:\d+: metadata\.name: duplicate VirtualKey 'bob-dev' \(first defined at keys\/app-dev\.yaml:\d+\)/,
    );
  });

  test('dangling references, model globs that match nothing, team cycles', () => {
    const dir = policyCopy();
    edit(dir, 'teams/acme.yaml', (t) =>
      t.replace('  displayName: Acme Corp', '  displayName: Acme Corp\n  parent: platform'),
    );
    edit(dir, 'keys/alice-principal.yaml', (t) => t.replace('o3,', 'o3, llama-*,'));
    edit(dir, 'keys/app-dev.yaml', (t) =>
      t.replace('providers: [anthropic, google]', 'providers: [anthropic, mistral]'),
    );
    const problems = problemsOf(dir).join('\n');
    assert.match(
      problems,
      /teams\/acme\.yaml:\d+:\d+: spec\.parent: team hierarchy has a cycle: acme → platform → acme/,
    );
    assert.match(
      problems,
      /keys\/alice-principal\.yaml:\d+:\d+: spec\.models\[6\]: 'llama-\*' matches no model/,
    );
    assert.match(problems, /keys\/app-dev\.yaml:\d+:\d+: spec\.providers\[1\]: refers to Provider 'mistral'/);
  });

  test('a plaintext credential anywhere is refused without echoing it', () => {
    const dir = policyCopy();
    // Random like a real one: the secret rules dismiss low-entropy placeholders.
    const fake = `sk-proj-${randomBytes(36).toString('base64url')}`;
    edit(dir, 'keys/bots.yaml', (t) =>
      t.replace('description: Pull-request review bot', `description: key ${fake} bot`),
    );
    const problems = problemsOf(dir);
    assert.equal(problems.length, 1);
    assert.match(
      problems[0],
      /metadata\.description: looks like a plaintext credential \(openai_project_key\)/,
    );
    assert.ok(!problems[0].includes(fake));
  });

  test('invalid YAML, alias bombs, huge and non-UTF-8 files are each a located problem', () => {
    const dir = policyCopy();
    writeFileSync(
      join(dir, 'broken.yaml'),
      'apiVersion: portcullis.dev/v1\nkind: Team\nmetadata: {name: [unclosed\n',
    );
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 10; i++)
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(',')}]`,
      );
    writeFileSync(join(dir, 'bomb.yaml'), `${bomb.join('\n')}\n`);
    writeFileSync(join(dir, 'latin1.yaml'), Buffer.from([0x6b, 0x69, 0x6e, 0x64, 0x3a, 0x20, 0xe9, 0x0a]));
    writeFileSync(join(dir, 'huge.yaml'), `# ${'x'.repeat(17 * 1024 * 1024)}\n`);
    const problems = problemsOf(dir).join('\n');
    assert.match(problems, /broken\.yaml:\d+:\d+: invalid YAML: Flow sequence/);
    assert.match(problems, /bomb\.yaml:1:1: too many YAML aliases/);
    assert.match(problems, /latin1\.yaml:1:1: file is not valid UTF-8 text/);
    assert.match(problems, /huge\.yaml:1:1: file is \d+ bytes, larger than the 16777216-byte limit/);
  });

  test('an invalid time zone is refused', () => {
    const dir = policyCopy();
    edit(dir, 'gateway.yaml', (t) => t.replace('America/New_York', 'Mars/Olympus_Mons'));
    assert.match(
      problemsOf(dir)[0],
      /gateway\.yaml:\d+:\d+: spec\.budgetTimezone: 'Mars\/Olympus_Mons' is not an IANA time zone/,
    );
  });
});
