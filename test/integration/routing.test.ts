// Routes through the real gateway (example policy compiled to Wasm, simulator upstream): Claude Code's
// calls on GPT and Gemini models, Codex's on Claude, an app-dev key's default model aliased, a fallback
// when the first target is down, and Bedrock, Vertex AI and Azure OpenAI as targets with their own
// authentication — each checked with the official SDKs and in the audit record.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { generateVirtualKey, hashVirtualKey } from '../../src/cli/keys.ts';
import type { CallRecord } from '../../src/gateway/outcome.ts';
import { createGateway, type Gateway } from '../../src/gateway/server.ts';
import { SnapshotHolder } from '../../src/gateway/snapshot-holder.ts';
import { buildSnapshot } from '../../src/policy/build-snapshot.ts';
import { Simulator } from '../../src/simulator/server.ts';
import { examplePolicyCopy, TEST_KEYS } from '../fixtures/keys.ts';

const CLOUD_KEY = generateVirtualKey();
const AWS = { id: 'AKIDGATEWAYTEST01', secret: 'gateway-test-secret' };
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const SA_EMAIL = 'portcullis@sim-project.iam.gserviceaccount.com';

/** Cloud providers and a route per cloud for the principal's key, added to the example policy copy. */
function cloudPolicy(simUrl: string, saFile: string): string {
  return `apiVersion: portcullis.dev/v1
kind: VirtualKey
metadata: { name: cloud-tester }
spec:
  owner: cloud@acme.example
  team: platform
  keyHash: sha256:${hashVirtualKey(CLOUD_KEY)}
  models: [anthropic.claude-haiku-4-5*, gemini-2.5-flash-lite, gpt-5-nano, amazon.nova-pro-v1:0]
---
apiVersion: portcullis.dev/v1
kind: Provider
metadata: { name: test-bedrock }
spec:
  api: anthropic
  baseUrl: ${simUrl}
  cloud:
    bedrock:
      region: us-east-1
      accessKeyId: { fromEnv: TEST_AWS_KEY_ID }
      secretAccessKey: { fromEnv: TEST_AWS_SECRET }
  models:
    - { id: anthropic.claude-haiku-4-5-20251001-v1:0, inputPerMTok: 1, outputPerMTok: 5, maxOutputTokens: 64000 }
---
apiVersion: portcullis.dev/v1
kind: Provider
metadata: { name: test-converse }
spec:
  api: anthropic
  baseUrl: ${simUrl}
  cloud:
    bedrock:
      region: us-east-1
      api: converse
      accessKeyId: { fromEnv: TEST_AWS_KEY_ID }
      secretAccessKey: { fromEnv: TEST_AWS_SECRET }
  models:
    - { id: amazon.nova-pro-v1:0, inputPerMTok: 0.8, outputPerMTok: 3.2, maxOutputTokens: 10000 }
---
apiVersion: portcullis.dev/v1
kind: Route
metadata: { name: test-converse-only }
spec:
  priority: 2
  match: { models: [nova-pro], keys: [cloud-tester] }
  targets: [{ provider: test-converse, model: amazon.nova-pro-v1:0 }]
---
apiVersion: portcullis.dev/v1
kind: Provider
metadata: { name: test-vertex }
spec:
  api: gemini
  baseUrl: ${simUrl}
  cloud:
    vertex: { project: sim-project, region: us-central1, credentialsFile: ${saFile} }
  models:
    - { id: gemini-2.5-flash-lite, inputPerMTok: 0.1, outputPerMTok: 0.4, maxOutputTokens: 65536 }
---
apiVersion: portcullis.dev/v1
kind: Provider
metadata: { name: test-azure }
spec:
  api: openai
  baseUrl: ${simUrl}
  credential: { fromEnv: TEST_AZURE_KEY }
  cloud:
    azure: { apiVersion: '2024-10-21', deployments: { gpt-5-nano: nano-deploy } }
  models:
    - { id: gpt-5-nano, inputPerMTok: 0.05, outputPerMTok: 0.4, maxOutputTokens: 128000 }
---
apiVersion: portcullis.dev/v1
kind: Route
metadata: { name: test-clouds }
spec:
  priority: 1
  match: { models: [cloud-haiku, cloud-flash-lite, cloud-nano], keys: [cloud-tester] }
  targets:
    - { provider: test-bedrock, model: anthropic.claude-haiku-4-5-20251001-v1:0, weight: 0 }
    - { provider: test-vertex, model: gemini-2.5-flash-lite, weight: 0 }
    - { provider: test-azure, model: gpt-5-nano, weight: 0 }
  retry: { maxAttempts: 1 }
  translation: { hostedTools: drop }
---
apiVersion: portcullis.dev/v1
kind: Route
metadata: { name: test-bedrock-only }
spec:
  priority: 2
  match: { models: [bedrock-haiku], keys: [cloud-tester] }
  targets: [{ provider: test-bedrock, model: anthropic.claude-haiku-4-5-20251001-v1:0 }]
---
apiVersion: portcullis.dev/v1
kind: Route
metadata: { name: test-vertex-only }
spec:
  priority: 2
  match: { models: [vertex-flash-lite], keys: [cloud-tester] }
  targets: [{ provider: test-vertex, model: gemini-2.5-flash-lite }]
---
apiVersion: portcullis.dev/v1
kind: Route
metadata: { name: test-azure-only }
spec:
  priority: 2
  match: { models: [azure-nano], keys: [cloud-tester] }
  targets: [{ provider: test-azure, model: gpt-5-nano }]
`;
}

interface Stack {
  sim: Simulator;
  gw: Gateway;
  url: string;
  records: CallRecord[];
  record(): Promise<CallRecord>;
}

async function startStack(anthropicUpstream?: string): Promise<Stack> {
  const sim = new Simulator({
    outputTokens: 5,
    clouds: {
      bedrock: { region: 'us-east-1', credentials: { [AWS.id]: { secretAccessKey: AWS.secret } } },
      vertex: {
        serviceAccounts: { [SA_EMAIL]: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
      },
      azure: {
        apiKeys: ['azure-test-key'],
        deployments: { 'nano-deploy': 'gpt-5-nano' },
        apiVersions: ['2024-10-21'],
      },
    },
  });
  const simUrl = await sim.listen();
  const saFile = join(tmpdir(), `portcullis-sa-${process.pid}.json`);
  writeFileSync(
    saFile,
    JSON.stringify({
      type: 'service_account',
      client_email: SA_EMAIL,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      project_id: 'sim-project',
    }),
  );
  Object.assign(process.env, {
    OPENAI_API_KEY: 'sk-routing-openai',
    ANTHROPIC_API_KEY: 'sk-ant-routing',
    GEMINI_API_KEY: 'routing-gemini',
    TEST_AWS_KEY_ID: AWS.id,
    TEST_AWS_SECRET: AWS.secret,
    TEST_AZURE_KEY: 'azure-test-key',
  });
  const { dir } = examplePolicyCopy();
  writeFileSync(join(dir, 'providers', 'test-clouds.yaml'), cloudPolicy(simUrl, saFile));
  const env = {
    ...process.env,
    PORTCULLIS_UPSTREAM_OPENAI: simUrl,
    PORTCULLIS_UPSTREAM_ANTHROPIC: anthropicUpstream ?? simUrl,
    PORTCULLIS_UPSTREAM_GOOGLE: simUrl,
  };
  const snapshot = await buildSnapshot({ dir, env });
  const records: CallRecord[] = [];
  const waiting: Array<(r: CallRecord) => void> = [];
  const plugin = {
    name: 'records',
    audit(r: CallRecord) {
      const w = waiting.shift();
      if (w) w(r);
      else records.push(r);
    },
  };
  const gw = createGateway({ holder: new SnapshotHolder(snapshot), plugins: [plugin], logLevel: 'warn' });
  const url = await gw.listen(0);
  return {
    sim,
    gw,
    url,
    records,
    record: () => {
      const r = records.shift();
      return r !== undefined ? Promise.resolve(r) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

const TOOLS: Anthropic.Tool[] = [
  {
    name: 'Bash',
    description: 'run',
    input_schema: { type: 'object', properties: { command: { type: 'string' } } },
  },
];

describe('routes through the gateway', () => {
  let s: Stack;
  before(async () => {
    s = await startStack();
  });
  after(async () => {
    await s.gw.close();
    await s.sim.close();
  });
  const claude = (key: string, headers: Record<string, string> = {}) =>
    new Anthropic({ apiKey: key, baseURL: s.url, maxRetries: 0, defaultHeaders: headers });
  const openai = (key: string, headers: Record<string, string> = {}) =>
    new OpenAI({ apiKey: key, baseURL: `${s.url}/v1`, maxRetries: 0, defaultHeaders: headers });

  test('Claude Code on a GPT model: Anthropic Messages streamed through OpenAI Responses, tool call and usage back', async () => {
    const final = await claude(TEST_KEYS.principal, { 'x-sim-tool-call': 'Bash' })
      .messages.stream({
        model: 'gpt-5',
        max_tokens: 1000,
        tools: TOOLS,
        messages: [{ role: 'user', content: 'list' }],
      })
      .finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    const call = final.content.find((b) => b.type === 'tool_use');
    assert.ok(call?.type === 'tool_use');
    assert.deepEqual(call.input, { command: 'ls' });
    assert.equal(s.sim.last()!.path, '/v1/responses');
    const rec = await s.record();
    assert.equal(rec.outcome, 'allowed');
    assert.equal(rec.provider, 'openai');
    assert.equal(rec.model, 'gpt-5');
    assert.equal(rec.tokens.output, 5);
    assert.ok(rec.costUsd > 0);
    assert.equal(rec.route?.name, 'claude-code-on-gpt');
    assert.deepEqual(
      rec.route?.attempts.map((a) => [a.provider, a.surface, a.translated, a.status]),
      [['openai', 'openai.responses', true, 200]],
    );
  });

  test('Claude Code on a Gemini model, not streamed, with the tool result going back as a functionResponse', async () => {
    const msg = await claude(TEST_KEYS.principal, { 'x-sim-tool-call': 'Bash' }).messages.create({
      model: 'gemini-2.5-pro',
      max_tokens: 1000,
      tools: TOOLS,
      messages: [
        { role: 'user', content: 'list' },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'toolu_9', name: 'Bash', input: { command: 'pwd' } }],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9', content: '/repo' }] },
      ],
    });
    assert.equal(msg.stop_reason, 'tool_use');
    assert.equal(msg.model, 'gemini-2.5-pro');
    const sent = s.sim.last()!;
    assert.equal(sent.path, '/v1beta/models/gemini-2.5-pro:generateContent');
    assert.match(
      JSON.stringify(sent.body),
      /"functionResponse":\{"name":"Bash","response":\{"output":"\/repo"\}\}/,
    );
    assert.equal(sent.headers['anthropic-version'], undefined, 'Anthropic headers are not sent to Google');
    const rec = await s.record();
    assert.equal(rec.tokens.output, 5);
  });

  test('Codex on a Claude model: Responses streamed through Anthropic Messages, function call and usage back', async () => {
    const stream = openai(TEST_KEYS.principal, { 'x-sim-tool-call': 'exec_command' }).responses.stream({
      model: 'claude-sonnet-4-5',
      input: 'list the files',
      tools: [
        {
          type: 'function',
          name: 'exec_command',
          parameters: { type: 'object', properties: {} },
          strict: false,
        },
        { type: 'web_search' },
      ],
    });
    const final = await stream.finalResponse();
    const call = final.output.find((i) => i.type === 'function_call');
    assert.ok(call?.type === 'function_call');
    assert.equal(call.name, 'exec_command');
    assert.equal(final.usage?.output_tokens, 5);
    assert.equal(s.sim.last()!.path, '/v1/messages');
    const rec = await s.record();
    assert.equal(rec.route?.name, 'codex-on-claude');
    assert.deepEqual(rec.route?.dropped, ['tool web_search (OpenAI hosted tool)']);
  });

  test('an app-dev key asking for Claude Code’s default model is served by its alias', async () => {
    const msg = await claude(TEST_KEYS.member).messages.create({
      model: 'claude-opus-4-8',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(msg.model, 'claude-sonnet-4-5');
    assert.equal((s.sim.last()!.body as { model: string }).model, 'claude-sonnet-4-5');
    const rec = await s.record();
    assert.equal(rec.model, 'claude-sonnet-4-5');
    assert.equal(rec.route?.requestedModel, 'claude-opus-4-8');
  });

  test('the same key may not ask for a model it has no route to: the policy refuses', async () => {
    await assert.rejects(
      claude(TEST_KEYS.member).messages.create({
        model: 'claude-opus-4-5',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (err: unknown) => err instanceof Anthropic.PermissionDeniedError,
    );
    await s.record();
  });

  test('an untranslatable request is refused in the caller’s format, naming what cannot be carried', async () => {
    await assert.rejects(
      claude(TEST_KEYS.principal).messages.create({
        model: 'gpt-5',
        max_tokens: 10,
        tools: [{ type: 'web_search_20250305', name: 'web_search' }],
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (err: unknown) => err instanceof Anthropic.BadRequestError && /web_search/.test(err.message),
    );
    const rec = await s.record();
    assert.equal(rec.outcome, 'error');
    assert.equal(rec.errorCode, 'untranslatable');
  });

  test('Bedrock: InvokeModelWithResponseStream signed with SigV4, its event stream read back as Anthropic SSE', async () => {
    const final = await claude(CLOUD_KEY, {
      'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14',
    })
      .messages.stream({
        model: 'bedrock-haiku',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'hi' }],
      })
      .finalMessage();
    assert.equal(final.usage.output_tokens, 5);
    const sent = s.sim.last()!;
    assert.equal(
      decodeURIComponent(sent.path),
      '/model/anthropic.claude-haiku-4-5-20251001-v1:0/invoke-with-response-stream',
    );
    assert.deepEqual((sent.body as { anthropic_beta: string[] }).anthropic_beta, [
      'interleaved-thinking-2025-05-14',
    ]);
    const rec = await s.record();
    assert.equal(rec.provider, 'test-bedrock');
    assert.equal(rec.tokens.output, 5);
    assert.deepEqual(rec.route?.dropped, ['beta claude-code-20250219']);
  });

  test('Bedrock Converse: Claude Code’s streamed call with a tool, on a non-Claude model', async () => {
    const final = await claude(CLOUD_KEY, { 'x-sim-tool-call': 'Bash' })
      .messages.stream({
        model: 'nova-pro',
        max_tokens: 100,
        tools: TOOLS,
        messages: [
          { role: 'user', content: 'list' },
          {
            role: 'assistant',
            content: [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'pwd' } }],
          },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '/repo' }] },
        ],
      })
      .finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    assert.deepEqual(final.content.find((b) => b.type === 'tool_use')?.input, { command: 'ls' });
    assert.equal(final.usage.output_tokens, 5);
    const sent = s.sim.last()!;
    assert.equal(decodeURIComponent(sent.path), '/model/amazon.nova-pro-v1:0/converse-stream');
    assert.match(
      JSON.stringify(sent.body),
      /"toolResult":\{"toolUseId":"toolu_1","content":\[\{"text":"\/repo"\}\]\}/,
    );
    const rec = await s.record();
    assert.equal(rec.provider, 'test-converse');
    assert.equal(rec.tokens.output, 5);
  });

  test('Vertex AI: Gemini with a service-account token, from a Chat Completions client', async () => {
    const res = await openai(CLOUD_KEY).chat.completions.create({
      model: 'vertex-flash-lite',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(res.usage?.completion_tokens, 5);
    assert.match(
      s.sim.last()!.path,
      /^\/v1\/projects\/sim-project\/locations\/us-central1\/publishers\/google\/models\/gemini-2.5-flash-lite:generateContent$/,
    );
    await s.record();
  });

  test('Azure OpenAI: the deployment in the path, api-version and api-key, from Claude Code', async () => {
    const msg = await claude(CLOUD_KEY).messages.create({
      model: 'azure-nano',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(msg.usage.output_tokens, 5);
    const sent = s.sim.last()!;
    assert.equal(sent.path, '/openai/deployments/nano-deploy/chat/completions');
    assert.equal(sent.query['api-version'], '2024-10-21');
    await s.record();
  });
});

describe('fallback when the first target is down', () => {
  let s: Stack;
  before(async () => {
    // Nothing listens on port 9: Anthropic is unreachable.
    s = await startStack('http://127.0.0.1:9');
  });
  after(async () => {
    await s.gw.close();
    await s.sim.close();
  });

  test('an app-dev call moves on to GPT-5 mini (translated), and the audit record says why', async () => {
    const client = new Anthropic({ apiKey: TEST_KEYS.member, baseURL: s.url, maxRetries: 0 });
    const msg = await client.messages.create({
      model: 'claude-opus-4-8',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(msg.model, 'claude-opus-4-8');
    assert.equal(msg.usage.output_tokens, 5);
    assert.equal(s.sim.last()!.path, '/v1/chat/completions');
    const rec = await s.record();
    assert.equal(rec.provider, 'openai');
    assert.deepEqual(
      rec.route?.attempts.map((a) => [a.provider, a.status, a.reason]),
      [
        ['anthropic', 0, 'connection'],
        ['openai', 200, undefined],
      ],
    );
  });
});

describe('token counts for a model in another format', () => {
  let s: Stack;
  before(async () => {
    s = await startStack();
  });
  after(async () => {
    await s.gw.close();
    await s.sim.close();
  });

  test('Claude Code counting tokens for gpt-5 gets an estimate from the gateway, nothing goes upstream', async () => {
    const n = s.sim.requests.length;
    const client = new Anthropic({ apiKey: TEST_KEYS.principal, baseURL: s.url, maxRetries: 0 });
    const res = await client.messages.countTokens({
      model: 'gpt-5',
      messages: [{ role: 'user', content: 'x'.repeat(400) }],
    });
    assert.ok(res.input_tokens >= 100 && res.input_tokens < 200, String(res.input_tokens));
    assert.equal(s.sim.requests.length, n);
    const rec = await s.record();
    assert.equal(rec.outcome, 'allowed');
    assert.equal(rec.route?.name, 'claude-code-on-gpt');
  });
});
