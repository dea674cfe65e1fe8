// Guardrail chains end to end: `portcullis serve` on the example policy (default chain: secrets
// redacted on the way out, blocked on the way back; strict chain for the CI bot), the simulator as
// every provider, official SDKs where what the developer sees matters.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { readAuditRecords } from '../../src/policyci/replay.ts';
import type { Simulator } from '../../src/simulator/server.ts';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';
import { fakeAwsKey } from '../fixtures/fake-credentials.ts';
import { examplePolicyCopy, TEST_KEYS } from '../fixtures/keys.ts';
import { type GatewayProcess, killAll, post, startGateway, startSimulator } from './helpers.ts';

/** The call's audit record, once the batcher committed it (undefined after 5 s). */
async function auditRecordOf(dataDir: string, requestId: string) {
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const record = readAuditRecords(dataDir).find((r) => r.requestId === requestId);
    if (record !== undefined) return record;
  }
  return undefined;
}

const REDACTED = '[REDACTED:aws_access_key_id]';
const member = { key: TEST_KEYS.member }; // bob-dev: default chain
const bot = { key: TEST_KEYS.ciBot }; // ci-review-bot: strict chain

interface SurfaceCase {
  name: string;
  path: string;
  upstreamPath: string;
  headers(key: string): Record<string, string>;
  /** A request whose tool result (or user text, for Gemini's function response) carries `secret`. */
  body(secret: string): unknown;
}

const SURFACES: SurfaceCase[] = [
  {
    name: 'OpenAI chat',
    path: '/v1/chat/completions',
    upstreamPath: '/v1/chat/completions',
    headers: (key) => ({ authorization: `Bearer ${key}` }),
    body: (secret) => ({
      model: 'gpt-5-mini',
      messages: [
        { role: 'user', content: 'What is in my env file?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'read_file', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: `AWS_ACCESS_KEY_ID=${secret}\nREGION=us-east-1` },
      ],
    }),
  },
  {
    name: 'OpenAI Responses',
    path: '/v1/responses',
    upstreamPath: '/v1/responses',
    headers: (key) => ({ authorization: `Bearer ${key}` }),
    body: (secret) => ({
      model: 'gpt-5-mini',
      input: [
        { type: 'function_call', call_id: 'c1', name: 'read_file', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c1', output: `AWS_ACCESS_KEY_ID=${secret}` },
      ],
    }),
  },
  {
    name: 'Anthropic',
    path: '/v1/messages',
    upstreamPath: '/v1/messages',
    headers: (key) => ({ 'x-api-key': key, 'anthropic-version': '2023-06-01' }),
    body: (secret) => ({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      messages: [
        { role: 'user', content: 'Read .env' },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 't1', name: 'Read', input: { path: '.env' } }],
        },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: 't1', content: `AWS_ACCESS_KEY_ID=${secret}` }],
        },
      ],
    }),
  },
  {
    name: 'Gemini',
    path: '/v1beta/models/gemini-2.5-flash:generateContent',
    upstreamPath: '/v1beta/models/gemini-2.5-flash:generateContent',
    headers: (key) => ({ 'x-goog-api-key': key }),
    body: (secret) => ({
      contents: [
        { role: 'user', parts: [{ text: 'Read .env' }] },
        { role: 'model', parts: [{ functionCall: { name: 'read_file', args: { path: '.env' } } }] },
        {
          role: 'user',
          parts: [{ functionResponse: { name: 'read_file', response: { content: `KEY=${secret}` } } }],
        },
      ],
    }),
  },
];

describe('guardrail chains through portcullis serve', { timeout: 120_000 }, () => {
  let sim: Simulator;
  let gw: GatewayProcess;

  before(async () => {
    const s = await startSimulator({ historySize: 100 });
    sim = s.sim;
    const { dir } = examplePolicyCopy();
    gw = await startGateway({ policyDir: dir, simUrl: s.url });
  });

  after(async () => {
    await gw?.stop();
    await sim?.close();
    killAll();
  });

  for (const surface of SURFACES) {
    test(`${surface.name}: the default chain redacts a credential in a tool result before the provider sees it`, async () => {
      const secret = fakeAwsKey();
      const res = await post(gw.url, surface.path, surface.body(secret), surface.headers(member.key));
      assert.equal(res.status, 200, res.text);
      const sent = JSON.stringify(sim.last(surface.upstreamPath)?.body);
      assert.ok(sent.includes(REDACTED), `upstream body carries the redaction marker: ${sent}`);
      assert.ok(!sent.includes(secret), 'the credential never reaches the provider');
    });
  }

  test('a block chain refuses with 400 in the surface format, naming rule and path, and forwards nothing', async () => {
    // The CI bot may not use Google at all, so Gemini is refused for that first.
    for (const surface of SURFACES.filter((s) => s.name !== 'Gemini')) {
      const secret = fakeAwsKey();
      const before = sim.requests.length;
      const res = await post(gw.url, surface.path, surface.body(secret), surface.headers(bot.key));
      assert.equal(res.status, 400, `${surface.name}: ${res.text}`);
      assert.equal(res.headers.get('x-portcullis-decision'), 'guardrail_blocked');
      const body = res.json();
      if (surface.name === 'Anthropic') assert.equal(body.type, 'error');
      else assert.equal(body.error.code, 'guardrail_blocked');
      assert.match(body.error.message, /strict: aws_access_key_id \(secret\) found at \S+/);
      assert.ok(!res.text.includes(secret), 'the error does not echo the credential');
      assert.equal(sim.requests.length, before, `${surface.name}: nothing was forwarded`);
    }
  });

  test('a credential split across streamed chunks ends the stream with an error the Anthropic SDK raises', async () => {
    const secret = fakeAwsKey();
    const text = `Here is the key you asked about: ${secret} and some more words after it to finish.`;
    const client = new Anthropic({
      apiKey: member.key,
      authToken: null,
      baseURL: gw.url,
      maxRetries: 0,
      defaultHeaders: { 'x-sim-text': encodeURIComponent(text), 'x-sim-chunk-chars': '7' },
    });
    const stream = client.messages.stream({
      model: 'claude-haiku-4-5',
      max_tokens: 200,
      messages: [{ role: 'user', content: 'What was that key?' }],
    });
    let seen = '';
    stream.on('text', (t) => {
      seen += t;
    });
    await assert.rejects(stream.finalMessage(), (err: Error) => {
      assert.match(err.message, /guardrail chain default found aws_access_key_id \(secret\) at /);
      return true;
    });
    assert.ok(!seen.includes(secret), 'the whole credential never reached the client');
  });

  test('a credential at the very start of a streamed answer is a real HTTP error, recorded as blocked', async () => {
    const secret = fakeAwsKey();
    const requestId = `guard-first-chunk-${randomInt(1e9)}`;
    const res = await post(
      gw.url,
      '/v1/messages',
      {
        model: 'claude-haiku-4-5',
        max_tokens: 200,
        stream: true,
        messages: [{ role: 'user', content: 'key?' }],
      },
      {
        'x-api-key': member.key,
        'anthropic-version': '2023-06-01',
        'x-request-id': requestId,
        'x-sim-text': encodeURIComponent(`${secret} is the key, and here is more text after it.`),
        'x-sim-chunk-chars': '64',
      },
    );
    assert.equal(res.status, 400, res.text);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const message = res.json().error.message as string;
    assert.equal(message.match(/aws_access_key_id/g)?.length, 1, 'the finding is named once');
    assert.ok(!res.text.includes(secret));
    const record = await auditRecordOf(gw.dataDir, requestId);
    assert.equal(record?.outcome, 'blocked');
    assert.ok(record?.findings.some((f) => f.stage === 'response' && f.rule === 'aws_access_key_id'));
  });

  test('a streamed OpenAI chat answer with a credential ends with a data error event; a clean one is untouched', async () => {
    const secret = fakeAwsKey();
    const headers = {
      authorization: `Bearer ${member.key}`,
      'x-sim-text': encodeURIComponent(`token ${secret} is what the logs show for that deploy run`),
      'x-sim-chunk-chars': '5',
    };
    const body = { model: 'gpt-5-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] };
    const res = await post(gw.url, '/v1/chat/completions', body, headers);
    assert.equal(res.status, 200);
    const events = res.text.trim().split('\n\n');
    const last = JSON.parse(events[events.length - 1].replace(/^data: /, ''));
    assert.match(last.error.message, /aws_access_key_id/);
    assert.ok(!res.text.includes('[DONE]'), 'the stream is cut, not completed');
    assert.ok(!res.text.includes(secret), 'the credential never reached the client');

    const clean = await post(gw.url, '/v1/chat/completions', body, {
      authorization: `Bearer ${member.key}`,
    });
    assert.equal(clean.status, 200);
    assert.ok(clean.text.trim().endsWith('data: [DONE]'));
    assert.ok(!clean.text.includes('"error"'));
  });

  /** A streamed Anthropic answer of `text` in `chunkChars`-character deltas, and the text the client got. */
  async function streamedAnswer(text: string, chunkChars: number, maxTokens: number) {
    const res = await post(
      gw.url,
      '/v1/messages',
      {
        model: 'claude-haiku-4-5',
        max_tokens: maxTokens,
        stream: true,
        messages: [{ role: 'user', content: 'key?' }],
      },
      {
        'x-api-key': member.key,
        'anthropic-version': '2023-06-01',
        'x-sim-text': encodeURIComponent(text),
        'x-sim-chunk-chars': String(chunkChars),
      },
    );
    const streamed = res.text
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)) as { delta?: { text?: string } })
      .map((e) => e.delta?.text ?? '')
      .join('');
    return { res, streamed };
  }

  test('a base64-encoded credential streamed two characters at a time: none of it reaches the client', async () => {
    const before = 'The deploy script wants the key encoded, so here it is: ';
    const encoded = Buffer.from(`export AWS_ACCESS_KEY_ID=${fakeAwsKey()}`).toString('base64');
    const { res, streamed } = await streamedAnswer(
      `${before}${encoded} and that is everything it needs to run.`,
      2,
      400,
    );
    assert.equal(res.status, 200);
    assert.ok(res.text.trimEnd().split('\n\n').at(-1)?.startsWith('event: error\n'), res.text.slice(-300));
    assert.match(res.text, /aws_access_key_id/);
    assert.ok(
      before.startsWith(streamed),
      `past the prose before it: ${JSON.stringify(streamed.slice(before.length))}`,
    );
    assert.ok(streamed.length > 0, 'the prose before it went out');
  });

  test('a private key streamed in pieces: none of its body reaches the client before the stop', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const text = `Here is the deploy key you asked for:\n${pem}\nKeep it somewhere safe.`;
    const { res, streamed } = await streamedAnswer(text, 7, 2000);
    assert.equal(res.status, 200);
    assert.ok(res.text.trimEnd().split('\n\n').at(-1)?.startsWith('event: error\n'), res.text.slice(-300));
    assert.match(res.text, /private_key_rsa/);
    // The deltas carry 7 characters each: no piece of any body line may have reached the client.
    const body = pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
    for (const line of body)
      assert.ok(!streamed.includes(line.slice(0, 8)), `key material streamed: ${line.slice(0, 8)}`);
  });

  test('a non-streamed answer carrying a credential is replaced by a 400 error, and its tokens are still billed', async () => {
    const secret = fakeAwsKey();
    const requestId = `guard-nonstream-${randomInt(1e9)}`;
    const res = await post(
      gw.url,
      '/v1/messages',
      { model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] },
      {
        'x-api-key': member.key,
        'anthropic-version': '2023-06-01',
        'x-sim-text': encodeURIComponent(`the key is ${secret}`),
        'x-request-id': requestId,
      },
    );
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json().type, 'error');
    assert.match(res.json().error.message, /found aws_access_key_id \(secret\) at content\[0\]\.text/);
    assert.ok(!res.text.includes(secret));
    // The provider billed the answer even though the client never saw it.
    const record = await auditRecordOf(gw.dataDir, requestId);
    assert.ok(record, 'an audit record for the replaced answer');
    assert.ok(record.tokens.output > 0, JSON.stringify(record.tokens));
    assert.ok(record.costUsd > 0);
  });

  test('a Gemini answer streamed as a JSON array (no alt=sse) carrying a credential is replaced too', async () => {
    const secret = fakeAwsKey();
    const requestId = `guard-gemini-array-${randomInt(1e9)}`;
    const res = await post(
      gw.url,
      '/v1beta/models/gemini-2.5-flash:streamGenerateContent',
      { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] },
      {
        'x-goog-api-key': member.key,
        'x-sim-text': encodeURIComponent(`the deploy log says the key is ${secret} for that run`),
        'x-request-id': requestId,
      },
    );
    assert.equal(res.status, 400, res.text);
    assert.match(res.json().error.message, /found aws_access_key_id \(secret\) at \[\d+\]\.candidates\[0\]/);
    assert.ok(!res.text.includes(secret));
    const record = await auditRecordOf(gw.dataDir, requestId);
    assert.ok(record, 'an audit record for the replaced answer');
    assert.ok(record.tokens.output > 0, "the chunks' usage is still counted");
  });
});

describe('policy validate', () => {
  test('a chain with a catastrophic regex is rejected with file:line', () => {
    const { dir } = examplePolicyCopy();
    writeFileSync(
      join(dir, 'guardrails', 'team-rules.yaml'),
      [
        'apiVersion: portcullis.dev/v1',
        'kind: GuardrailChain',
        'metadata:',
        '  name: team-rules',
        'spec:',
        '  steps:',
        '    - detector: secrets',
        '      action: redact',
        '    - detector: regex',
        '      action: block',
        '      rules:',
        '        - name: ticket',
        '          pattern: "^(\\\\w+\\\\s?)*$"',
        '',
      ].join('\n'),
    );
    const r = spawnSync(
      join(REPO_ROOT, 'node_modules/.bin/node'),
      [join(REPO_ROOT, 'bin/portcullis.js'), 'policy', 'validate', dir],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout + r.stderr,
      /guardrails\/team-rules\.yaml:9:\d+: steps\[1\] \(regex\): rule 'ticket'/,
    );
  });
});
