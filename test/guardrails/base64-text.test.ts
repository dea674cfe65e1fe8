// Base64 the way people paste it: a whole file encoded (lines, tabs and all), text in UTF-8, and the
// output of `base64` or a MIME encoder wrapped over lines, indented inside YAML. URL-encoding applied
// twice. Each is found in a request, the finding covers the encoded text and redaction removes all of
// it; a stream holds an encoded file back until the credential in it is reported.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { compileChain, createResponseScanner, scanRequest } from '../../src/guardrails/index.ts';
import { survey } from '../../src/guardrails/normalise.ts';
import { redactRequest } from '../../src/guardrails/redact.ts';
import { every, feed } from './stream-feed.ts';

const TOKEN = `ghp_${'R8sWq2LzVb7nXc4Tm9Pk1Jd6Hf3Gy5Ua0EeQ'}`;
const ENV = [
  'APP_ENV=staging',
  'DB_HOST=db.internal',
  'DB_USER=app',
  'LOG_LEVEL=debug',
  `GITHUB_TOKEN=${TOKEN}`,
  'FEATURE_FLAGS=search,export',
  'REGION=eu-west-1',
  '',
].join('\n');

function chainOf(action: 'block' | 'redact') {
  return compileChain(
    {
      apiVersion: 'portcullis.dev/v1',
      kind: 'GuardrailChain',
      metadata: { name: 'b64' },
      spec: { steps: [{ detector: 'secrets', action, stage: 'both' }] },
    },
    { cache: false, fingerprintSalt: 'base64-text-test-salt-0123456789' },
  );
}

async function findingsIn(content: string) {
  const { findings } = await scanRequest(chainOf('block'), 'openai.chat', {
    model: 'gpt-5-mini',
    messages: [{ role: 'user', content }],
  });
  return findings;
}

/** `base64` as GNU coreutils writes it: lines of `width` characters. */
const wrapped = (b64: string, width: number, eol = '\n') =>
  b64.replace(new RegExp(`(.{${width}})(?=.)`, 'g'), `$1${eol}`);

test('a base64-encoded file is decoded with its line breaks, wherever they fall in a group', async () => {
  // Each line break starts a three-byte group somewhere in one of these.
  for (const prefix of ['', 'x', 'xy']) {
    const encoded = Buffer.from(prefix + ENV).toString('base64');
    const found = await findingsIn(`Decode this and load it:\n${encoded}\nthanks`);
    assert.deepEqual(
      found.map((f) => f.rule),
      ['github_pat'],
      `prefix ${JSON.stringify(prefix)}: ${encoded}`,
    );
  }
});

test('in a long text a base64 run is found at every offset, down to the shortest decoded', async () => {
  const prose = 'The handler validates the request and forwards it upstream; ';
  const shortest = Buffer.from('the retry limit is 3x').toString('base64');
  assert.equal(shortest.length, 28);
  const encoded = Buffer.from(`GITHUB_TOKEN=${TOKEN}`).toString('base64');
  for (let offset = 0; offset < 12; offset++) {
    const before = prose.repeat(6).slice(0, 300 + offset);
    // Ł (U+0141) is `A` in its low byte: beside a run it must not be taken for part of it.
    const text = `${before} ${shortest} then Ł${'Ł'.repeat(offset % 4)}${encoded}Ł. ${prose.repeat(4)}`;
    const runs = survey(text).runs ?? [];
    assert.deepEqual(
      runs.map(([a, z]) => text.slice(a, z)),
      [shortest, encoded],
      `offset ${offset}`,
    );
    const shorter = `${before} ${shortest.slice(1)} ${prose.repeat(4)}`;
    assert.equal(survey(shorter).runs, undefined, `offset ${offset}: 27 characters are not a run`);
    assert.deepEqual(
      (await findingsIn(text)).map((f) => f.rule),
      ['github_pat'],
      `offset ${offset}`,
    );
  }
});

test('base64 of UTF-8 text is decoded', async () => {
  const text = `Voilà la clé d’accès du dépôt — ne la partagez pas : ${TOKEN} (émise par l’équipe).`;
  const found = await findingsIn(Buffer.from(text).toString('base64'));
  assert.deepEqual(
    found.map((f) => f.rule),
    ['github_pat'],
  );
});

test('base64 wrapped over lines (76 and 64 columns, CRLF, indented in YAML) is read as one block, and redacted whole', async () => {
  const encoded = Buffer.from(ENV.repeat(3)).toString('base64');
  const blocks = [
    wrapped(encoded, 76),
    wrapped(encoded, 64),
    wrapped(encoded, 76, '\r\n'),
    wrapped(encoded, 76, '\n      '),
  ];
  for (const block of blocks) {
    const content = `apiVersion: v1\nkind: Secret\ndata:\n  env: |\n      ${block}\n`;
    const found = await findingsIn(content);
    assert.ok(
      found.some((f) => f.rule === 'github_pat'),
      `not found in ${JSON.stringify(block.slice(0, 90))}`,
    );
    const body = { model: 'gpt-5-mini', messages: [{ role: 'user', content }] };
    const left = redactRequest('openai.chat', body, found).messages[0].content;
    assert.ok(left.startsWith('apiVersion: v1\nkind: Secret\ndata:\n  env: |\n      '), left);
    for (const line of block.split(/\r?\n\s*/))
      assert.ok(!left.includes(line), 'every line of the block is gone');
  }
});

test('random bytes in base64, wrapped or not, and encoded prose without a credential are not findings', async () => {
  for (let i = 0; i < 50; i++) {
    const encoded = randomBytes(300 + i).toString('base64');
    assert.deepEqual(await findingsIn(wrapped(encoded, 76)), []);
    assert.deepEqual(await findingsIn(encoded), []);
  }
  const prose = Buffer.from(ENV.replace(TOKEN, 'see-the-vault')).toString('base64');
  assert.deepEqual(await findingsIn(wrapped(prose, 76)), []);
});

test('URL-encoding applied twice is decoded', async () => {
  const once = [...TOKEN].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
  const twice = once.replaceAll('%', '%25');
  assert.deepEqual(
    (await findingsIn(`the hook is https://ci.example/hook/${twice} for now`)).map((f) => f.rule),
    ['github_pat'],
  );
  // Not a hex pair after `%25`: nothing decoded there.
  assert.deepEqual(await findingsIn('progress: 100%25x3 done, 50%25zz'), []);
});

test('a streamed answer holds an encoded file back until the credential in it is reported', () => {
  const prose = 'Here is the file you asked for, encoded as the deploy script expects it: ';
  for (const prefix of ['', 'x', 'xy']) {
    const text = `${prose}${Buffer.from(prefix + ENV).toString('base64')} and that is all of it.`;
    const { reported, released } = feed(
      createResponseScanner(chainOf('block'), 'anthropic.messages'),
      text,
      'github_pat',
      every(3),
    );
    assert.ok(reported, `prefix ${JSON.stringify(prefix)}: reported`);
    assert.ok(
      released <= prose.length,
      `prefix ${JSON.stringify(prefix)}: ${released - prose.length} released`,
    );
  }
});
