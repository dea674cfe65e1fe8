// IdentityProvider documents and Team member templates are validated like every other kind: each
// mistake is reported at its file and line, with a sentence that says what to fix.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkPolicy } from '../../src/policy/build-snapshot.ts';
import { formatProblem } from '../../src/policy/problems.ts';
import { edit, lineOf, policyCopy } from '../policy/helpers.ts';

const IDP = 'identity/acme-sso.yaml';
const TEAMS = 'teams/acme.yaml';

function problems(dir: string): string[] {
  return checkPolicy(dir).problems.map(formatProblem);
}

describe('identity in policy', () => {
  test('the example policy, with its IdentityProvider and members templates, is valid', () => {
    assert.deepEqual(problems(policyCopy()), []);
  });

  test('a group mapped to a team that does not exist, or that has no members template', () => {
    const dir = policyCopy();
    edit(dir, IDP, (t) =>
      t.replace(
        '{ group: platform-engineering, team: platform }',
        '{ group: platform-engineering, team: platfrom }',
      ),
    );
    edit(dir, IDP, (t) =>
      t.replace(
        '{ group: app-developers, team: app-dev }',
        '{ group: app-developers, team: app-dev }\n    - { group: finance, team: acme }',
      ),
    );
    const found = problems(dir);
    const line = lineOf(dir, IDP, 'platfrom');
    assert.ok(
      found.some(
        (p) =>
          p.startsWith(`${IDP}:${line}:`) && p.includes("refers to Team 'platfrom', which is not defined"),
      ),
      found.join('\n'),
    );
    assert.ok(
      found.some((p) => p.includes("Team 'acme' declares no 'members' template")),
      found.join('\n'),
    );
  });

  test('a members template naming a missing chain or scope, an unknown model, a bad time zone', () => {
    const dir = policyCopy();
    edit(dir, TEAMS, (t) =>
      t
        .replace(
          '      maxInFlight: 8\n',
          '      maxInFlight: 8\n    guardrailChain: nope\n    toolScope: missing-scope\n',
        )
        .replace('gpt-5-mini, gemini-3.1', 'gpt-5-mini, gpt-99-ultra, gemini-3.1')
        .replace(
          '{ amountUsd: 20, period: daily }',
          '{ amountUsd: 20, period: daily, timezone: Mars/Olympus }',
        ),
    );
    const found = problems(dir).join('\n');
    assert.match(found, /spec\.members\.guardrailChain.*GuardrailChain 'nope', which is not defined/);
    assert.match(found, /spec\.members\.toolScope.*ToolScope 'missing-scope', which is not defined/);
    assert.match(found, /'gpt-99-ultra' matches no model of the providers team 'app-dev' members may use/);
    assert.match(found, /'Mars\/Olympus' is not an IANA time zone/);
  });

  test('schema: lifetime form, role names, a required issuer', () => {
    const dir = policyCopy();
    edit(dir, IDP, (t) =>
      t
        .replace('lifetime: 12h', 'lifetime: 12 hours')
        .replace('roles: [auditor]', 'roles: [superuser]')
        .replace('  issuer: https://login.acme.example\n', ''),
    );
    const found = problems(dir).join('\n');
    assert.match(found, /personalKeys\.lifetime.*does not match the expected form/);
    assert.match(found, /roles\[0\]\.roles\[0\].*must be one of: viewer, auditor, key-admin/);
    assert.match(found, /missing required field 'issuer'/);
  });

  test('accepting access tokens needs an audience other than the client id (ID tokens carry that one)', () => {
    const dir = policyCopy();
    edit(dir, IDP, (t) => t.replace('audience: https://portcullis.acme.example', 'audience: portcullis-cli'));
    assert.match(problems(dir).join('\n'), /acceptAccessTokens needs an audience of its own/);
    edit(dir, IDP, (t) => t.replace('  audience: portcullis-cli\n', ''));
    assert.match(problems(dir).join('\n'), /spec\.acceptAccessTokens.*needs an audience of its own/);
  });

  test('a lifetime over 30 days, and two IdentityProviders with one issuer', () => {
    const dir = policyCopy();
    edit(
      dir,
      IDP,
      (t) =>
        `${t.replace('lifetime: 12h', 'lifetime: 31d')}---\n${t.replace('name: acme-sso', 'name: acme-sso-2')}`,
    );
    const found = problems(dir).join('\n');
    assert.match(found, /at most 30d/);
    assert.match(found, /same issuer as IdentityProvider 'acme-sso'/);
  });
});
