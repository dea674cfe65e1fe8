import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { createFingerprinter } from '../../src/guardrails/fingerprint.ts';
import { regexProblem } from '../../src/guardrails/regex-safety.ts';
import { SecretsDetector, selectRules } from '../../src/guardrails/secrets/detector.ts';
import { LEAD } from '../../src/guardrails/secrets/rule-kit.ts';
import { SECRET_RULES } from '../../src/guardrails/secrets/rules.ts';
import { expand, placeholder, randomFrom } from './fakes.ts';

const fingerprint = createFingerprinter('test-salt-0123456789abcdef');
const detector = new SecretsDetector(SECRET_RULES, { fingerprint });
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function rulesIn(text: string): string[] {
  return detector.scan(text).map((m) => m.rule);
}

describe('secret rule set', () => {
  test('has at least 150 rules with unique snake_case ids', () => {
    assert.ok(SECRET_RULES.length >= 150, `only ${SECRET_RULES.length} rules`);
    const ids = SECRET_RULES.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length, 'duplicate rule ids');
    for (const id of ids) assert.match(id, /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/);
  });

  test('no rule pattern can backtrack catastrophically', () => {
    for (const r of SECRET_RULES) assert.equal(regexProblem(r.pattern, ''), undefined, r.id);
  });

  test('covers the credential families the gateway promises', () => {
    const ids = new Set(SECRET_RULES.map((r) => r.id));
    for (const id of [
      'aws_access_key_id',
      'aws_secret_access_key',
      'gcp_service_account_key',
      'google_api_key',
      'azure_storage_connection_string',
      'github_pat',
      'github_fine_grained_pat',
      'github_app_installation_token',
      'gitlab_pat',
      'bitbucket_app_password',
      'circleci_personal_token',
      'openai_project_key',
      'anthropic_api_key',
      'cohere_api_key',
      'huggingface_access_token',
      'groq_api_key',
      'slack_bot_token',
      'discord_bot_token',
      'stripe_secret_key',
      'stripe_restricted_key',
      'twilio_api_key',
      'sendgrid_api_key',
      'shopify_access_token',
      'npm_access_token',
      'pypi_upload_token',
      'datadog_api_key',
      'private_key_rsa',
      'private_key_ec',
      'private_key_openssh',
      'private_key_pgp',
      'jwt',
      'postgres_connection_string',
      'mysql_connection_string',
      'mongodb_connection_string',
      'redis_connection_string',
      'amqp_connection_string',
      'generic_password',
      'generic_api_key',
    ]) {
      assert.ok(ids.has(id), `missing ${id}`);
    }
  });
});

describe('every rule on fresh fake credentials of its format', () => {
  for (const rule of SECRET_RULES) {
    test(rule.id, () => {
      for (let i = 0; i < 3; i++) {
        const secret = expand(rule.sample);
        const plain = `Here is the config:\n${secret}\nthanks`;
        assert.ok(rulesIn(plain).includes(rule.id), `not found in plain text: ${rule.sample}`);
        // Tool results often carry JSON-encoded text: quotes and newlines arrive escaped.
        const escaped = JSON.stringify({ output: `$ cat .env\n${secret}\n` });
        assert.ok(rulesIn(escaped).includes(rule.id), `not found in JSON-escaped text: ${rule.sample}`);
      }
      const shaped = placeholder(rule.sample);
      assert.ok(
        !rulesIn(`Here is the config:\n${shaped}\nthanks`).includes(rule.id),
        `placeholder reported: ${shaped}`,
      );
    });
  }
});

describe('prefixed tokens are not found inside longer identifiers', () => {
  for (const rule of SECRET_RULES.filter((r) => r.pattern.startsWith(`${LEAD}(?<s>`) && !r.offset)) {
    test(rule.id, () => {
      const secret = expand(rule.sample);
      assert.ok(!rulesIn(`x = Z${secret};`).includes(rule.id));
    });
  }
});

describe('precision on code and documentation', () => {
  const clean: [string, string][] = [
    ['AWS documentation example key', 'aws_access_key_id = AKIAIOSFODNN7EXAMPLE'],
    ['function call', 'const password = getPassword();'],
    ['type annotation', 'interface Opts { token: CancellationToken; apiKey: string | undefined }'],
    ['environment lookup', 'const apiKey = process.env.OPENAI_API_KEY;'],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell-style placeholder is the point
    ['template placeholder', 'password: "${DB_PASSWORD}"'],
    ['angle-bracket placeholder', "secret: '<your-secret-here>'"],
    ['member path', 'token = this.session.accessToken'],
    ['metadata name', 'token_type: "Bearer1234abcd"\npassword_policy: "min-12-chars!"'],
    ['words', 'The password must be rotated; the token expired.'],
    [
      'git sha and uuid',
      'commit 4f2a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a id 123e4567-e89b-12d3-a456-426614174000',
    ],
    ['version string', 'api_version = "2023-06-01"\ntoken_version: 1.2.3'],
    [
      'jwt.io sample token',
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
    ],
    ['url without password', 'postgres://app@db.internal:5432/app and https://user:@example.org'],
    ['placeholder password in url', 'postgres://user:password@localhost/db redis://:changeme@cache'],
    [
      'pem header without key material',
      '-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----',
    ],
  ];
  for (const [name, text] of clean) {
    test(`no finding: ${name}`, () => assert.deepEqual(rulesIn(text), []));
  }

  test('generic assignments in env, YAML, JSON, Python and shell', () => {
    const v = () => `${randomFrom(ALNUM, 14)}9!`;
    assert.deepEqual(rulesIn(`DB_PASSWORD=${v()}\n`), ['generic_password']);
    assert.deepEqual(rulesIn(`database:\n  password: ${v()}\n`), ['generic_password']);
    assert.deepEqual(rulesIn(`{"client_secret": "${v()}"}`), ['generic_secret']);
    assert.deepEqual(rulesIn(`connect(api_key='${v()}')`), ['generic_api_key']);
    assert.deepEqual(rulesIn(`export ACCESS_TOKEN="${v()}"`), ['generic_token']);
    assert.deepEqual(rulesIn(`curl -H "Authorization: Bearer ${randomFrom(ALNUM, 40)}" https://api`), [
      'bearer_token',
    ]);
  });

  test('the specific rule wins over the generic one on the same value', () => {
    const key = randomFrom('0123456789abcdef', 32);
    const found = detector.scan(`DD_API_KEY=${key}`);
    assert.deepEqual(
      found.map((m) => m.rule),
      ['datadog_api_key'],
    );
  });

  test('reports the secret itself, not the name it is assigned to', () => {
    const pw = `${randomFrom(ALNUM, 16)}!1`;
    const text = `postgres://app:${pw}@db:5432/x`;
    const [m] = detector.scan(text);
    assert.equal(text.slice(m.start, m.end), pw);
  });

  test('object keys name secrets in structured tool input', () => {
    const value = `${randomFrom(ALNUM, 20)}7`;
    assert.equal(detector.scanKeyed('dbPassword', value)[0]?.rule, 'generic_password');
    assert.equal(detector.scanKeyed('x-api-key', value)[0]?.rule, 'generic_api_key');
    assert.deepEqual(detector.scanKeyed('token_type', value), []);
    assert.deepEqual(detector.scanKeyed('max_tokens', value), []);
    assert.deepEqual(detector.scanKeyed('password', 'hunter'), []);
  });
});

describe('fingerprints', () => {
  test('are salted hashes of the match, never the match', () => {
    const token = `ghp_${randomFrom(ALNUM, 36)}`;
    const [a] = detector.scan(`one ${token}`);
    const [b] = detector.scan(`two: ${token} again`);
    assert.equal(a.fingerprint, b.fingerprint);
    assert.match(a.fingerprint, /^[0-9a-f]{16}$/);
    assert.ok(!token.includes(a.fingerprint));
    const other = new SecretsDetector(SECRET_RULES, {
      fingerprint: createFingerprinter('another-salt-0123456789'),
    });
    assert.notEqual(other.scan(token)[0].fingerprint, a.fingerprint);
    assert.throws(() => createFingerprinter('short'), /at least 16 bytes/);
  });

  test('a fingerprint is HMAC-SHA256 of the match under the salt, truncated to 64 bits', () => {
    const salts = ['test-salt-0123456789abcdef', 'k'.repeat(100), Buffer.alloc(64, 7), Buffer.alloc(65, 9)];
    for (const salt of salts) {
      const fp = createFingerprinter(salt);
      for (const match of ['', 'ghp_abc', 'pässwörd-漢字-🙂', 'x'.repeat(5000)]) {
        const key = typeof salt === 'string' ? Buffer.from(salt) : salt;
        assert.equal(fp(match), createHmac('sha256', key).update(match).digest('hex').slice(0, 16));
      }
    }
  });
});

describe('rule selection', () => {
  test('include and exclude take ids and globs', () => {
    assert.deepEqual(
      selectRules(['github_*'], ['github_refresh_token']).map((r) => r.id),
      SECRET_RULES.filter((r) => r.id.startsWith('github_') && r.id !== 'github_refresh_token').map(
        (r) => r.id,
      ),
    );
    assert.ok(!selectRules(undefined, ['generic_*']).some((r) => r.id.startsWith('generic_')));
    assert.throws(() => selectRules(['no_such_rule']), /no secret rule matches 'no_such_rule'/);
  });

  test('a detector only reports the rules it runs', () => {
    const only = new SecretsDetector(selectRules(['aws_*']), { fingerprint });
    const text = `AKIA${randomFrom('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)} ghp_${randomFrom(ALNUM, 36)}`;
    assert.deepEqual(
      only.scan(text).map((m) => m.rule),
      ['aws_access_key_id'],
    );
  });
});
