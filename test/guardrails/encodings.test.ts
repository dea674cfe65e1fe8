// Encodings beyond URL-encoding and JSON escapes that a pasted credential may come in: HTML character
// references, `\x` escapes, full-width forms, invisibles inside base64, base64 of base64. Each is found
// in a request at the original characters, and a streamed answer releases no character of one before
// it is reported.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileChain, createResponseScanner, scanRequest } from '../../src/guardrails/index.ts';
import { every, feed } from './stream-feed.ts';

const TOKEN = `ghp_${'R8sWq2LzVb7nXc4Tm9Pk1Jd6Hf3Gy5Ua0EeQ'}`;
const chain = compileChain(
  {
    apiVersion: 'portcullis.dev/v1',
    kind: 'GuardrailChain',
    metadata: { name: 'enc' },
    spec: { steps: [{ detector: 'secrets', action: 'block', stage: 'both' }] },
  },
  { cache: false, fingerprintSalt: 'encodings-test-salt-0123456789' },
);

const each = (s: string, f: (c: string) => string) => [...s].map(f).join('');
const ENCODED: Record<string, string> = {
  'HTML decimal references': each(TOKEN, (c) => `&#${c.charCodeAt(0)};`),
  'HTML hex references': each(TOKEN, (c) => `&#x${c.charCodeAt(0).toString(16)};`),
  '\\x escapes': each(TOKEN, (c) => `\\x${c.charCodeAt(0).toString(16)}`),
  'full-width forms': each(TOKEN, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)),
  'zero-width spaces inside base64': [...Buffer.from(`the token is ${TOKEN}`).toString('base64')].join(
    '\u200b',
  ),
  'base64 of base64': Buffer.from(Buffer.from(`export TOKEN=${TOKEN}`).toString('base64')).toString('base64'),
  hex: Buffer.from(`export TOKEN=${TOKEN}\n`).toString('hex'),
  'hex as `xxd -p` wraps it': Buffer.from(`export TOKEN=${TOKEN}\n`)
    .toString('hex')
    .replace(/(.{60})(?=.)/g, '$1\n'),
};

for (const [name, encoded] of Object.entries(ENCODED)) {
  test(`a credential in ${name} is found at the encoded characters`, async () => {
    const before = 'Please configure the runner with this value: ';
    const content = `${before}${encoded} and restart it.`;
    const { findings } = await scanRequest(chain, 'openai.chat', {
      model: 'gpt-5-mini',
      messages: [{ role: 'user', content }],
    });
    assert.deepEqual(
      findings.map((f) => f.rule),
      ['github_pat'],
    );
    const { start, end } = findings[0] as unknown as { start: number; end: number };
    assert.ok(start >= before.length && end <= before.length + encoded.length, `at ${start}..${end}`);
  });
}

for (const name of ['HTML decimal references', '\\x escapes', 'full-width forms']) {
  test(`a streamed answer releases no character of a credential in ${name} before it is reported`, () => {
    const prose = 'Here is the value you asked for, as it appears in the page source: ';
    const text = `${prose}${ENCODED[name]} and nothing else.`;
    const { reported, released } = feed(
      createResponseScanner(chain, 'anthropic.messages'),
      text,
      'github_pat',
      every(2),
    );
    assert.ok(reported, 'reported');
    assert.ok(released <= prose.length, `${released - prose.length} characters released`);
  });
}

test('ordinary HTML references, escapes, full-width text and hex digests are not findings', async () => {
  const { createHash, randomUUID } = await import('node:crypto');
  const content = [
    `sha256 ${createHash('sha256').update('release-1.2.3.tgz').digest('hex')}  release-1.2.3.tgz`,
    `commit ${createHash('sha1').update('x').digest('hex')} request ${randomUUID()}`,
    'Tom &amp; Jerry &#169; 2024 &#x2014; all rights reserved &#8212; see &#60;docs&#62;',
    'printf("\\x1b[31mred\\x1b[0m\\n"); const tab = "\\x09";',
    'ＡＢＣ株式会社　東京都千代田区１－２－３　ＴＥＬ：０３－１２３４－５６７８',
  ].join('\n');
  const { findings } = await scanRequest(chain, 'openai.chat', {
    model: 'gpt-5-mini',
    messages: [{ role: 'user', content }],
  });
  assert.deepEqual(findings, []);
});
