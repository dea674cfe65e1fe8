import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { compileChain, createResponseScanner, type ScanFinding } from '../../src/guardrails/index.ts';
import { randomFrom } from './fakes.ts';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const gh = () => `ghp_${randomFrom(ALNUM, 36)}`;

const doc = (steps: unknown[]) => ({
  apiVersion: 'portcullis.dev/v1',
  kind: 'GuardrailChain',
  metadata: { name: 'stream' },
  spec: { steps },
});
const chain = compileChain(
  doc([
    { detector: 'secrets', action: 'block', stage: 'response' },
    { detector: 'pii', action: 'log', stage: 'response', types: ['email', 'phone'] },
  ]),
  { cache: false, fingerprintSalt: 'stream-test-salt-0123456789' },
);

describe('streaming response scanner', () => {
  test('a private key block arriving in pieces is pending from its first line until it is decided', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const intro = 'Here is the deploy key:\n';
    const text = `${intro}${pem}\nKeep it safe, and rotate it after the migration is done.`;
    const path = 'content[0].text';
    const s = createResponseScanner(chain, 'anthropic.messages');
    assert.equal(s.pendingFrom(path), Number.POSITIVE_INFINITY);
    const found: ScanFinding[] = [];
    let sawPending = false;
    for (let i = 0; i < text.length && found.length === 0; i += 20) {
      found.push(...s.push(path, text.slice(i, i + 20)));
      // Once the body is long enough to be a key, everything from its first line waits for the verdict.
      if (s.pendingFrom(path) === intro.length) sawPending = true;
      else if (found.length === 0 && i > intro.length + 200) assert.fail(`not pending at ${i}`);
    }
    assert.ok(sawPending);
    found.push(...(await s.end()).findings);
    assert.deepEqual(
      found.map((f) => [f.rule, f.start]),
      [['private_key_rsa', intro.length]],
    );
    assert.equal(s.pendingFrom(path), Number.POSITIVE_INFINITY);
  });

  test('a secret split at every possible point is found exactly once, with absolute offsets', async () => {
    const token = gh();
    const text = `Sure, use ${token} for the remote. Anything else?`;
    for (let cut = 1; cut < text.length; cut++) {
      const s = createResponseScanner(chain, 'openai.chat');
      const got: ScanFinding[] = [];
      got.push(...s.push('choices[0].message.content', text.slice(0, cut)));
      got.push(...s.push('choices[0].message.content', text.slice(cut)));
      got.push(...(await s.end()).findings);
      assert.deepEqual(
        got.map((f) => [f.rule, f.path, f.start, f.end, f.stage]),
        [
          [
            'github_pat',
            'choices[0].message.content',
            text.indexOf(token),
            text.indexOf(token) + token.length,
            'response',
          ],
        ],
        `split at ${cut}`,
      );
    }
  });

  test('token by token, the finding arrives as soon as the text after it does — not at the end', async () => {
    const token = gh();
    const text = `Your token is ${token} and it expires tomorrow, so rotate it before then please.`;
    const s = createResponseScanner(chain, 'anthropic.messages');
    let reportedAt = -1;
    for (let i = 0; i < text.length; i += 3) {
      const found = s.pushEvent({
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: text.slice(i, i + 3) },
      });
      if (found.length > 0) {
        assert.equal(reportedAt, -1, 'reported once');
        assert.equal(found[0].rule, 'github_pat');
        assert.equal(found[0].path, 'content[0].text');
        reportedAt = i + 3;
      }
    }
    const tokenEnd = text.indexOf(token) + token.length;
    assert.ok(
      reportedAt >= tokenEnd && reportedAt <= tokenEnd + 16 + 3,
      `reported at ${reportedAt}, token ends at ${tokenEnd}`,
    );
    assert.deepEqual((await s.end()).findings, []);
  });

  test('a secret at the very end is flushed by end()', async () => {
    const token = gh();
    const s = createResponseScanner(chain, 'gemini.generate');
    const event = (t: string) => ({
      candidates: [{ index: 0, content: { role: 'model', parts: [{ text: t }] } }],
    });
    assert.deepEqual(s.pushEvent(event('here: ')), []);
    assert.deepEqual(s.pushEvent(event(token.slice(0, 20))), []);
    assert.deepEqual(s.pushEvent(event(token.slice(20))), []);
    const { findings } = await s.end();
    assert.deepEqual(
      findings.map((f) => [f.rule, f.path]),
      [['github_pat', 'candidates[0].content.parts[0].text']],
    );
  });

  test('texts at different paths keep separate windows', async () => {
    const token = gh();
    const s = createResponseScanner(chain, 'openai.chat');
    const delta = (content: string | undefined, args: string | undefined) => ({
      choices: [
        {
          index: 0,
          delta: {
            ...(content !== undefined ? { content } : {}),
            ...(args !== undefined ? { tool_calls: [{ index: 0, function: { arguments: args } }] } : {}),
          },
        },
      ],
    });
    const got: ScanFinding[] = [];
    got.push(...s.pushEvent(delta(token.slice(0, 10), '{"cmd": "git push https://')));
    got.push(...s.pushEvent(delta(undefined, `${token}@github.com/a/b"}`)));
    got.push(...s.pushEvent(delta(' is not a token on its own line.', undefined)));
    got.push(...(await s.end()).findings);
    assert.deepEqual(
      got.map((f) => [f.rule, f.path]),
      [['github_pat', 'choices[0].message.tool_calls[0].function.arguments']],
    );
  });

  test('long streams: every email reported once as the window moves on', async () => {
    const s = createResponseScanner(chain, 'openai.responses');
    const emails: string[] = [];
    const got: ScanFinding[] = [];
    for (let i = 0; i < 200; i++) {
      const email = `${randomFrom('abcdefghijklmnopqrstuvwxyz', 8)}.${i}@acme-corp.io`;
      emails.push(email);
      const chunk = `Line ${i}: contact ${email} about the invoice. `;
      for (let j = 0; j < chunk.length; j += 7) {
        got.push(
          ...s.pushEvent({
            type: 'response.output_text.delta',
            output_index: 0,
            content_index: 0,
            delta: chunk.slice(j, j + 7),
          }),
        );
      }
    }
    got.push(...(await s.end()).findings);
    assert.equal(got.length, emails.length);
    assert.ok(got.every((f) => f.rule === 'email' && f.path === 'output[0].content[0].text'));
    assert.equal(new Set(got.map((f) => f.start)).size, emails.length);
  });

  test('size limits trip once while streaming', async () => {
    const sized = compileChain(
      doc([{ detector: 'size', action: 'block', stage: 'response', maxBytes: 20 }]),
      { cache: false },
    );
    const s = createResponseScanner(sized, 'openai.chat');
    const push = (t: string) => s.push('choices[0].message.content', t);
    assert.deepEqual(push('0123456789'), []);
    assert.deepEqual(
      push('0123456789!').map((f) => f.rule),
      ['max_bytes'],
    );
    assert.deepEqual(push('more'), []);
    assert.deepEqual((await s.end()).findings, []);
  });

  test('request-only steps do not run on responses', async () => {
    const requestOnly = compileChain(doc([{ detector: 'secrets', action: 'block' }]), { cache: false });
    const s = createResponseScanner(requestOnly, 'openai.chat');
    assert.deepEqual(s.push('choices[0].message.content', `${gh()} and more text after it`), []);
    assert.deepEqual((await s.end()).findings, []);
  });
});

describe('streams are normalised and read across texts, like whole bodies', () => {
  // Secrets only: a PII step holds back every word at the end (it may be an address's local part),
  // which would hide what the secrets step holds back.
  const secretsOnly = compileChain(doc([{ detector: 'secrets', action: 'block', stage: 'response' }]), {
    cache: false,
    fingerprintSalt: 'stream-test-salt-0123456789',
  });

  /**
   * Streams `text` at `path` in pieces of `size`; returns the findings and checks that no more than
   * `slack` characters of the secret at `secret` were releasable before a finding was reported.
   */
  async function stream(text: string, size: number, secret: [number, number], slack = 0) {
    const path = 'content[0].text';
    const s = createResponseScanner(secretsOnly, 'anthropic.messages');
    const found: ScanFinding[] = [];
    for (let i = 0; i < text.length; i += size) {
      found.push(...s.push(path, text.slice(i, i + size)));
      if (found.length === 0)
        assert.ok(
          s.releasableTo(path) <= secret[0] + slack,
          `released ${s.releasableTo(path)}, past ${secret[0]} + ${slack}, after ${i + size} characters`,
        );
    }
    found.push(...(await s.end()).findings);
    return found;
  }

  const around = (hidden: string) => {
    const before = 'All set. Here is the value you asked about for the staging remote: ';
    const text = `${before}${hidden} and it expires at the end of the month, so rotate it before then.`;
    return { text, at: [before.length, before.length + hidden.length] as [number, number] };
  };

  test('zero-width characters inside a token do not hide it, nor let it out early', async () => {
    const token = gh();
    const { text, at } = around(`${token.slice(0, 9)}\u200b${token.slice(9, 20)}\u2060${token.slice(20)}`);
    for (const size of [1, 3, 7, 50]) {
      const found = await stream(text, size, at);
      assert.deepEqual(
        found.map((f) => [f.rule, f.start, f.end]),
        [['github_pat', at[0], at[1]]],
        `pieces of ${size}`,
      );
    }
  });

  test('a token hard-wrapped over two lines is found whole and held until it is', async () => {
    const token = gh();
    for (const hidden of [
      `${token.slice(0, 20)}\n    ${token.slice(20)}`,
      `${token.slice(0, 13)}\r\n${token.slice(13)}`,
    ]) {
      const { text, at } = around(hidden);
      for (const size of [1, 4, 11]) {
        const found = await stream(text, size, at);
        assert.deepEqual(
          found.map((f) => [f.rule, f.start, f.end]),
          [['github_pat', at[0], at[1]]],
        );
      }
    }
  });

  test('a URL-encoded token is found at its original characters', async () => {
    const token = gh();
    const hidden = token.replace(/[A-Z]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
    const { text, at } = around(hidden);
    const found = await stream(text, 5, at);
    assert.deepEqual(
      found.map((f) => [f.rule, f.start, f.end]),
      [['github_pat', at[0], at[1]]],
    );
  });

  test('a base64-encoded token is found, and none of its run goes out first', async () => {
    const hidden = Buffer.from(gh()).toString('base64');
    const { text, at } = around(hidden);
    for (const size of [1, 2, 9]) {
      const found = await stream(text, size, at);
      assert.deepEqual(
        found.map((f) => [f.rule, f.start, f.end]),
        [['github_pat', at[0], at[1]]],
      );
    }
  });

  test('a token split across two content blocks is found, naming both, and its first part is held', async () => {
    const token = gh();
    const first = `Here you go: ${token.slice(0, 17)}`;
    const second = `${token.slice(17)} is the one for CI; the other one was revoked yesterday afternoon.`;
    const s = createResponseScanner(secretsOnly, 'anthropic.messages');
    const found: ScanFinding[] = [];
    found.push(...s.push('content[0].text', first));
    assert.ok(s.releasableTo('content[0].text') <= first.length - 17, 'the start of the token waits');
    found.push(...s.push('content[1].text', second));
    found.push(...(await s.end()).findings);
    assert.deepEqual(
      found.map((f) => [f.rule, f.path, f.parts?.map((p) => [p.path, p.start, p.end])]),
      [
        [
          'github_pat',
          'content[0].text',
          [
            ['content[0].text', first.length - 17, first.length],
            ['content[1].text', 0, token.length - 17],
          ],
        ],
      ],
    );
  });

  test('a split token is reported as soon as enough of the next block arrived, not at the end', () => {
    const token = gh();
    const s = createResponseScanner(chain, 'anthropic.messages');
    s.push('content[0].text', `Use ${token.slice(0, 12)}`);
    const found = s.push(
      'content[1].text',
      `${token.slice(12)} ${'and then carry on with the rest of the plan. '.repeat(8)}`,
    );
    assert.deepEqual(
      found.map((f) => f.rule),
      ['github_pat'],
    );
  });
});
