// Credential shapes that used to slip through, each in several of the ways it shows up in an agent's
// context, and the command lines that used to be taken for credentials.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createFingerprinter } from '../../src/guardrails/fingerprint.ts';
import { SecretsDetector } from '../../src/guardrails/secrets/detector.ts';
import { SECRET_RULES } from '../../src/guardrails/secrets/rules.ts';
import { randomFrom } from './fakes.ts';

const detector = new SecretsDetector(SECRET_RULES, {
  fingerprint: createFingerprinter('gaps-salt-0123456789abcdef'),
});
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const HEX = '0123456789abcdef';
const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
const B64URL = `${ALNUM}_-`;

/** The secret text each finding covers. */
function secretsIn(text: string): string[] {
  return detector.scan(text).map((m) => text.slice(m.start, m.end));
}

function rulesIn(text: string): string[] {
  return detector.scan(text).map((m) => m.rule);
}

const pw = () => `${randomFrom(ALNUM, 14)}7x`;
const discord = () => {
  const id = Buffer.from(`${1 + Math.floor(Math.random() * 9)}${randomFrom('0123456789', 17)}`).toString(
    'base64url',
  );
  return `${id}.${randomFrom(B64URL, 6)}.${randomFrom(B64URL, 38)}`;
};
const ado = () => {
  let t = randomFrom(B32, 52);
  if (!/[2-7].*[2-7].*[2-7]/.test(t)) t = `234${t.slice(3)}`;
  return t;
};

describe('credentials found wherever they appear', () => {
  const cases: [string, () => [string, string]][] = [
    ['mysql2 URL', () => ((p) => [`DATABASE_URL=mysql2://app:${p}@db:3306/x`, p])(pw())],
    ['postgresql+asyncpg URL', () => ((p) => [`postgresql+asyncpg://app:${p}@db/x`, p])(pw())],
    [
      'a scheme no rule names',
      () => ((p) => [`sqlalchemy.url = snowflake+pyodbc://etl:${p}@acct/db`, p])(pw()),
    ],
    ['Discord token in client.login', () => ((t) => [`client.login('${t}');`, t])(discord())],
    ['Discord token in bot.run', () => ((t) => [`bot.run("${t}")`, t])(discord())],
    ['Discord token as an Authorization header', () => ((t) => [`Authorization: Bot ${t}`, t])(discord())],
    [
      'Okta SSWS header',
      () =>
        ((t) => [`curl -H "Authorization: SSWS ${t}" https://x.okta.com/api/v1/users`, t])(
          `00${randomFrom(B64URL, 40)}`,
        ),
    ],
    [
      'Okta SSWS in code',
      () => ((t) => [`headers: { Authorization: 'SSWS ${t}' }`, t])(`00${randomFrom(B64URL, 40)}`),
    ],
    [
      'Docker swarm join token',
      () =>
        ((t) => [`docker swarm join --token ${t} 10.0.0.5:2377`, t])(
          `SWMTKN-1-${randomFrom('abcdefghijklmnopqrstuvwxyz0123456789', 50)}-${randomFrom('abcdefghijklmnopqrstuvwxyz0123456789', 25)}`,
        ),
    ],
    ['legacy Azure DevOps PAT in an env var', () => ((t) => [`export AZURE_DEVOPS_EXT_PAT=${t}`, t])(ado())],
    [
      'legacy Azure DevOps PAT in PowerShell',
      () => ((t) => [`$env:AZDO_PERSONAL_ACCESS_TOKEN = "${t}"`, t])(ado()),
    ],
    ['legacy Azure DevOps PAT as a pat: field', () => ((t) => [`pat: ${t}`, t])(ado())],
    [
      'legacy Azure DevOps PAT in a clone URL',
      () => ((t) => [`git clone https://build:${t}@dev.azure.com/org/p/_git/r`, t])(ado()),
    ],
    [
      'Azure DevOps PAT as Basic auth with an empty user',
      () =>
        ((t) => [
          `Authorization: Basic ${Buffer.from(`:${t}`).toString('base64')}`,
          Buffer.from(`:${t}`).toString('base64'),
        ])(ado()),
    ],
    ['.pgpass line', () => ((p) => [`localhost:5432:*:postgres:${p}`, p])(pw())],
    ['.pgpass line with wildcards', () => ((p) => [`*:*:*:replicator:${p}\n`, p])(pw())],
    [
      '.pgpass line on another port after the file name',
      () => ((p) => [`$ cat ~/.pgpass\ndb.prod:15432:app:app:${p}`, p])(pw()),
    ],
    [
      'Twilio auth token beside its SID',
      () => ((t) => [`client = Client("AC${randomFrom(HEX, 32)}", "${t}")`, t])(randomFrom(HEX, 32)),
    ],
    [
      'Twilio auth token on the line after its SID',
      () => ((t) => [`account_sid = 'AC${randomFrom(HEX, 32)}'\nauth = '${t}'`, t])(randomFrom(HEX, 32)),
    ],
  ];
  for (const [name, make] of cases) {
    test(name, () => {
      const [text, secret] = make();
      assert.ok(secretsIn(text).includes(secret), `${JSON.stringify(secretsIn(text))} in ${text}`);
      const escaped = JSON.stringify({ output: text });
      assert.ok(detector.scan(escaped).length > 0, `not found JSON-encoded: ${escaped}`);
    });
  }
});

describe('command lines that are not credentials', () => {
  const clean = [
    'curl -u http://localhost:8080/logs',
    'tail -f logs | grep -u https://example.org:443/x',
    'docker run -u 1000:1000 image',
    'docker exec -u root:root app sh',
    'ssh -u deploy:22 host',
    'kubectl logs -u /var/log/app:latest',
    'git push -u origin main',
    'sort -u file.txt',
    'pip install -U requests',
  ];
  for (const text of clean) test(text, () => assert.deepEqual(rulesIn(text), []));

  test('a real curl -u user:password is still found', () => {
    const p = pw();
    assert.deepEqual(secretsIn(`curl -u admin:${p} http://localhost:8080/logs`), [p]);
  });

  test('Discord-shaped strings whose first part is not a user id are not tokens', () => {
    const fake = `MTAbCdEfGhIjKlMnOpQrStUvWx.${randomFrom(B64URL, 6)}.${randomFrom(B64URL, 38)}`;
    assert.deepEqual(
      rulesIn(`value = "${fake}"`).filter((r) => r === 'discord_bot_token'),
      [],
    );
  });
});
