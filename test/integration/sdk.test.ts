// The official SDKs, pointed at the gateway and changing nothing else, against the example policy.
import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { ApiError, GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { PROVIDER_SECRETS, type RealStack, startRealStack } from './stack.ts';

let s: RealStack;
before(async () => {
  s = await startRealStack({ outputTokens: 12, tokensPerChunk: 3 });
});
after(() => s?.close());

const openai = (key: string, headers: Record<string, string> = {}) =>
  new OpenAI({ apiKey: key, baseURL: `${s.url}/v1`, maxRetries: 0, defaultHeaders: headers });
// Claude Code with ANTHROPIC_AUTH_TOKEN sends `Authorization: Bearer`; with ANTHROPIC_API_KEY, `x-api-key`.
const anthropicBearer = (key: string) =>
  new Anthropic({ authToken: key, apiKey: null, baseURL: s.url, maxRetries: 0 });
const anthropicKey = (key: string, headers: Record<string, string> = {}) =>
  new Anthropic({ apiKey: key, authToken: null, baseURL: s.url, maxRetries: 0, defaultHeaders: headers });
const gemini = (key: string) => new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: s.url } });

const sha = (v: string) => `sha256:${hash('sha256', v, 'hex')}`;

describe('OpenAI SDK', () => {
  test('chat completion: allowed model works, usage event matches what the provider reported', async () => {
    const ev = s.nextEvent();
    const res = await openai(s.keys.principal).chat.completions.create({
      model: 'gpt-5',
      messages: [{ role: 'user', content: 'hello' }],
    });
    assert.equal(res.choices[0].message.content?.split(' ').length, 12);
    const e = await ev;
    assert.equal(e.keyId, 'alice-principal');
    assert.equal(e.team, 'platform');
    assert.equal(e.provider, 'openai');
    assert.equal(e.inputTokens + e.cachedInputTokens, res.usage?.prompt_tokens);
    assert.equal(e.outputTokens, res.usage?.completion_tokens);
    assert.ok(Math.abs(e.costUsd - (e.inputTokens * 1.25 + e.outputTokens * 10) / 1e6) < 1e-12);
    assert.equal(e.revision, s.snapshot.revision);
    const rec = s.sim.last('/v1/chat/completions')!;
    assert.equal(rec.headers.authorization, sha(`Bearer ${PROVIDER_SECRETS.OPENAI_API_KEY}`));
  });

  test('chat stream: text arrives in chunks, usage counted, no usage chunk the client did not ask for', async () => {
    const ev = s.nextEvent();
    const stream = await openai(s.keys.principal).chat.completions.create({
      model: 'gpt-5-mini',
      stream: true,
      messages: [{ role: 'user', content: 'stream please' }],
    });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      assert.ok(chunk.choices.length > 0, 'a usage-only chunk reached the client');
      text += chunk.choices[0].delta.content ?? '';
    }
    assert.ok(chunks > 3);
    assert.equal(text.split(' ').length, 12);
    const e = await ev;
    assert.equal(e.stream, true);
    assert.equal(e.outputTokens, 12);
    assert.equal(e.estimated, false);
  });

  test('responses stream (as Codex calls it): the final usage is counted', async () => {
    const ev = s.nextEvent();
    const stream = await openai(s.keys.principal, { session_id: 'codex-session-1' }).responses.create({
      model: 'gpt-5-codex',
      input: 'write a haiku',
      stream: true,
    });
    let completed = false;
    for await (const event of stream) if (event.type === 'response.completed') completed = true;
    assert.ok(completed);
    const e = await ev;
    assert.equal(e.surface, 'openai.responses');
    assert.equal(e.outputTokens, 12);
    assert.equal(e.session, 'codex-session-1');
  });

  test('embeddings and the model list', async () => {
    const client = openai(s.keys.principal);
    const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    assert.equal(emb.data.length, 2);
    assert.equal(emb.data[0].embedding.length, 8);
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes('gpt-5') && ids.includes('o3'));
    const bob: string[] = [];
    for await (const m of openai(s.keys.member).models.list()) bob.push(m.id);
    assert.deepEqual(bob.sort(), ['gpt-5-mini', 'gpt-5-nano']);
  });

  test('a forbidden model fails with PermissionDeniedError and says why', async () => {
    const before = s.sim.requests.length;
    await assert.rejects(
      openai(s.keys.member).chat.completions.create({
        model: 'gpt-5',
        messages: [{ role: 'user', content: 'x' }],
      }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.PermissionDeniedError);
        assert.equal(err.status, 403);
        assert.match(err.message, /Key bob-dev \(team app-dev\) may not use model gpt-5/);
        return true;
      },
    );
    assert.equal(s.sim.requests.length, before);
  });

  test('a bad or missing key fails with AuthenticationError', async () => {
    await assert.rejects(
      openai('pcl_not-a-real-key').chat.completions.create({ model: 'gpt-5', messages: [] }),
      (err: unknown) => err instanceof OpenAI.AuthenticationError && err.status === 401,
    );
    await assert.rejects(
      openai(s.keys.expired).chat.completions.create({ model: 'gpt-5-mini', messages: [] }),
      (err: unknown) => err instanceof OpenAI.AuthenticationError && /expired/.test(err.message),
    );
  });
});

describe('Anthropic SDK (as Claude Code uses it)', () => {
  test('messages with x-api-key and a dated model id: works, usage with cache reads counted', async () => {
    const ev = s.nextEvent();
    const msg = await anthropicKey(s.keys.member, { 'x-sim-cached-tokens': '5' }).messages.create({
      model: 'claude-sonnet-4-5-20250929',
      max_tokens: 1024,
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(msg.content[0].type, 'text');
    const e = await ev;
    assert.equal(e.keyId, 'bob-dev');
    assert.equal(e.pricedModel, 'claude-sonnet-4-5');
    assert.equal(e.inputTokens, msg.usage.input_tokens);
    assert.equal(e.cachedInputTokens, 5);
    assert.equal(e.outputTokens, msg.usage.output_tokens);
    assert.ok(Math.abs(e.costUsd - (e.inputTokens * 3 + 5 * 0.3 + e.outputTokens * 15) / 1e6) < 1e-12);
  });

  test('streaming with Authorization: Bearer; denied tools are stripped by the tool scope', async () => {
    const ev = s.nextEvent();
    const stream = anthropicBearer(s.keys.member).messages.stream({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      tools: [
        { name: 'Read', input_schema: { type: 'object' } },
        { name: 'Bash', input_schema: { type: 'object' } },
      ],
      messages: [{ role: 'user', content: 'hi' }],
    });
    const final = await stream.finalMessage();
    assert.equal(final.usage.output_tokens, 12);
    const e = await ev;
    assert.equal(e.outputTokens, 12);
    assert.equal(e.estimated, false);
    const forwarded = s.sim.last('/v1/messages')!.body as { tools: { name: string }[] };
    assert.deepEqual(
      forwarded.tools.map((t) => t.name),
      ['Read'],
    );
  });

  test('count_tokens works', async () => {
    const r = await anthropicKey(s.keys.principal).messages.countTokens({
      model: 'claude-opus-4-5',
      messages: [{ role: 'user', content: 'count me' }],
    });
    assert.ok(r.input_tokens > 0);
  });

  test('a forbidden model, a disabled key and an unknown key fail with the SDK error classes', async () => {
    await assert.rejects(
      anthropicKey(s.keys.member).messages.create({ model: 'claude-opus-4-5', max_tokens: 10, messages: [] }),
      (err: unknown) => {
        assert.ok(err instanceof Anthropic.PermissionDeniedError);
        assert.match(err.message, /may not use model claude-opus-4-5/);
        return true;
      },
    );
    await assert.rejects(
      anthropicKey(s.keys.disabled).messages.create({
        model: 'claude-haiku-4-5',
        max_tokens: 10,
        messages: [],
      }),
      (err: unknown) => err instanceof Anthropic.AuthenticationError && /disabled/.test(err.message),
    );
    await assert.rejects(
      anthropicBearer('pcl_unknown').messages.create({
        model: 'claude-haiku-4-5',
        max_tokens: 10,
        messages: [],
      }),
      (err: unknown) => err instanceof Anthropic.AuthenticationError,
    );
  });
});

describe('Gemini SDK (as Gemini CLI uses it)', () => {
  test('generateContent and streaming work; usage counted', async () => {
    const ai = gemini(s.keys.member);
    const ev = s.nextEvent();
    const r = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hello' });
    assert.equal(r.text?.split(' ').length, 12);
    const e = await ev;
    assert.equal(e.provider, 'google');
    assert.equal(e.outputTokens, 12);
    assert.equal(e.inputTokens, r.usageMetadata?.promptTokenCount);
    const ev2 = s.nextEvent();
    let text = '';
    for await (const chunk of await ai.models.generateContentStream({
      model: 'gemini-2.5-flash',
      contents: 'stream',
    })) {
      text += chunk.text ?? '';
    }
    assert.equal(text.split(' ').length, 12);
    const e2 = await ev2;
    assert.equal(e2.stream, true);
    assert.equal(e2.outputTokens, 12);
    const rec = s.sim.last()!;
    assert.equal(rec.headers['x-goog-api-key'], sha(PROVIDER_SECRETS.GEMINI_API_KEY));
  });

  test('countTokens works', async () => {
    const r = await gemini(s.keys.principal).models.countTokens({
      model: 'gemini-2.5-pro',
      contents: 'count',
    });
    assert.ok((r.totalTokens ?? 0) > 0);
  });

  test('a forbidden model, a provider outside the key and a bad key fail with ApiError', async () => {
    await assert.rejects(
      gemini(s.keys.member).models.generateContent({ model: 'gemini-2.5-pro', contents: 'x' }),
      (err: unknown) => {
        assert.ok(err instanceof ApiError);
        assert.equal(err.status, 403);
        assert.match(err.message, /may not use model gemini-2\.5-pro/);
        return true;
      },
    );
    await assert.rejects(
      gemini(s.keys.ciBot).models.generateContent({ model: 'gemini-2.5-flash', contents: 'x' }),
      (err: unknown) =>
        err instanceof ApiError && err.status === 403 && /may not use provider google/.test(err.message),
    );
    await assert.rejects(
      gemini('pcl_bad').models.generateContent({ model: 'gemini-2.5-flash', contents: 'x' }),
      (err: unknown) => err instanceof ApiError && err.status === 401,
    );
  });
});
