// The simulator as Bedrock, Vertex AI and Azure OpenAI, checked with the official clients: what they
// send passes its verification (SigV4, service-account JWTs, api-key + api-version), what they get back
// parses (Bedrock's event-stream frames included), and what a real service refuses it refuses too.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import AnthropicBedrock from '@anthropic-ai/bedrock-sdk';
import { AnthropicVertex } from '@anthropic-ai/vertex-sdk';
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelWithResponseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';
import { GoogleGenAI } from '@google/genai';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { JWT } from 'google-auth-library';
import { AzureOpenAI } from 'openai';
import { Simulator } from '../../src/simulator/server.ts';

export const AWS = {
  accessKeyId: 'AKIDSIMULATOR0001',
  secretAccessKey: 'sim-secret-key-0001',
  region: 'us-east-1',
};
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
export const SERVICE_ACCOUNT = {
  email: 'gateway@sim-project.iam.gserviceaccount.com',
  privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
};
const BEDROCK_MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';

let sim: Simulator;
before(async () => {
  sim = new Simulator({
    outputTokens: 5,
    clouds: {
      bedrock: {
        region: AWS.region,
        credentials: { [AWS.accessKeyId]: { secretAccessKey: AWS.secretAccessKey } },
      },
      vertex: { serviceAccounts: { [SERVICE_ACCOUNT.email]: SERVICE_ACCOUNT.publicKey } },
      azure: { apiKeys: ['azure-key-1'], deployments: { 'gpt5-prod': 'gpt-5' }, apiVersions: ['2024-10-21'] },
    },
  });
  await sim.listen();
});
after(() => sim.close());

function jwt(): JWT {
  const client = new JWT({
    email: SERVICE_ACCOUNT.email,
    key: SERVICE_ACCOUNT.privateKey,
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
  });
  client.useJWTAccessWithScope = true;
  return client;
}

describe('simulated Amazon Bedrock', () => {
  const bedrock = (secret = AWS.secretAccessKey) =>
    new AnthropicBedrock({
      awsAccessKey: AWS.accessKeyId,
      awsSecretKey: secret,
      awsRegion: AWS.region,
      baseURL: sim.url,
      maxRetries: 0,
    });

  test('InvokeModel with the Anthropic Bedrock SDK: SigV4 verified, body rules kept, the message returned', async () => {
    const msg = await bedrock().messages.create({
      model: BEDROCK_MODEL,
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(msg.content[0].type, 'text');
    assert.equal(msg.usage.output_tokens, 5);
    const rec = sim.last()!;
    assert.equal(decodeURIComponent(rec.path), `/model/${BEDROCK_MODEL}/invoke`);
    const body = rec.body as Record<string, unknown>;
    assert.ok(!('model' in body) && typeof body.anthropic_version === 'string');
  });

  test('InvokeModelWithResponseStream: the SDK reads the event-stream frames as Anthropic events', async () => {
    const stream = bedrock().messages.stream({
      model: BEDROCK_MODEL,
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const final = await stream.finalMessage();
    assert.equal((final.content[0] as { text: string }).text.split(' ').length, 5);
    assert.equal(final.stop_reason, 'end_turn');
  });

  test('the AWS SDK’s Bedrock runtime client streams the same frames', async () => {
    const client = new BedrockRuntimeClient({
      region: AWS.region,
      endpoint: sim.url,
      // The client streams over HTTP/2 by default; the simulator speaks HTTP/1.1.
      requestHandler: new NodeHttpHandler(),
      credentials: { accessKeyId: AWS.accessKeyId, secretAccessKey: AWS.secretAccessKey },
    });
    const out = await client.send(
      new InvokeModelWithResponseStreamCommand({
        modelId: BEDROCK_MODEL,
        contentType: 'application/json',
        body: JSON.stringify({
          anthropic_version: 'bedrock-2023-05-31',
          max_tokens: 50,
          messages: [{ role: 'user', content: 'hi' }],
        }),
      }),
    );
    const types: string[] = [];
    for await (const ev of out.body!) {
      if (ev.chunk?.bytes) types.push(JSON.parse(Buffer.from(ev.chunk.bytes).toString('utf8')).type);
    }
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    client.destroy();
  });

  test('Converse and ConverseStream with the AWS SDK: a tool call whole and streamed', async () => {
    const client = new BedrockRuntimeClient({
      region: AWS.region,
      endpoint: sim.url,
      requestHandler: new NodeHttpHandler(),
      credentials: { accessKeyId: AWS.accessKeyId, secretAccessKey: AWS.secretAccessKey },
    });
    const toolConfig = { tools: [{ toolSpec: { name: 'Bash', inputSchema: { json: { type: 'object' } } } }] };
    const whole = await client.send(
      new ConverseCommand({
        modelId: 'amazon.nova-pro-v1:0',
        messages: [{ role: 'user', content: [{ text: 'hi' }] }],
        toolConfig,
      }),
    );
    assert.equal(whole.usage?.outputTokens, 5);
    assert.equal(whole.stopReason, 'end_turn');
    const streamed = await client.send(
      new ConverseStreamCommand({
        modelId: 'amazon.nova-pro-v1:0',
        messages: [{ role: 'user', content: [{ text: 'hi' }] }],
        toolConfig,
      }),
    );
    let text = '';
    let stop: string | undefined;
    let output: number | undefined;
    for await (const ev of streamed.stream!) {
      text += ev.contentBlockDelta?.delta?.text ?? '';
      stop = ev.messageStop?.stopReason ?? stop;
      output = ev.metadata?.usage?.outputTokens ?? output;
    }
    assert.equal(text.split(' ').length, 5);
    assert.equal(stop, 'end_turn');
    assert.equal(output, 5);
    client.destroy();
  });

  test('a wrong secret is refused as AWS refuses it: 403 InvalidSignatureException', async () => {
    await assert.rejects(
      bedrock('wrong-secret').messages.create({
        model: BEDROCK_MODEL,
        max_tokens: 10,
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (err: unknown) => {
        assert.equal((err as { status?: number }).status, 403);
        assert.match(String((err as Error).message), /signature we calculated does not match/);
        return true;
      },
    );
  });

  test('a beta flag Bedrock does not know is a 400, as on the real service', async () => {
    await assert.rejects(
      bedrock().beta.messages.create({
        model: BEDROCK_MODEL,
        max_tokens: 10,
        betas: ['claude-code-20250219'],
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (err: unknown) => (err as { status?: number }).status === 400 && /invalid beta flag/.test(String(err)),
    );
  });
});

describe('simulated Google Vertex AI', () => {
  test('Claude through rawPredict / streamRawPredict with the Anthropic Vertex SDK and a service account', async () => {
    const client = new AnthropicVertex({
      projectId: 'sim-project',
      region: 'us-east5',
      baseURL: `${sim.url}/v1`,
      authClient: jwt(),
      maxRetries: 0,
    });
    const msg = await client.messages.create({
      model: 'claude-sonnet-4-5@20250929',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(msg.usage.output_tokens, 5);
    assert.match(sim.last()!.path, /\/publishers\/anthropic\/models\/claude-sonnet-4-5@20250929:rawPredict$/);
    const final = await client.messages
      .stream({
        model: 'claude-sonnet-4-5@20250929',
        max_tokens: 50,
        messages: [{ role: 'user', content: 'hi' }],
      })
      .finalMessage();
    assert.equal(final.stop_reason, 'end_turn');
    assert.match(sim.last()!.path, /:streamRawPredict$/);
  });

  test('Gemini with @google/genai in Vertex mode', async () => {
    const ai = new GoogleGenAI({
      vertexai: true,
      project: 'sim-project',
      location: 'us-central1',
      googleAuthOptions: { authClient: jwt() },
      httpOptions: { baseUrl: sim.url },
    });
    const res = await ai.models.generateContent({ model: 'gemini-2.5-pro', contents: 'hi' });
    assert.equal(res.usageMetadata?.candidatesTokenCount, 5);
    assert.match(
      sim.last()!.path,
      /^\/v1(beta1)?\/projects\/sim-project\/locations\/us-central1\/publishers\/google\/models\/gemini-2.5-pro:generateContent$/,
    );
  });

  test('a token signed by another key is refused with 401', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const forged = new JWT({
      email: SERVICE_ACCOUNT.email,
      key: other,
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    });
    forged.useJWTAccessWithScope = true;
    const client = new AnthropicVertex({
      projectId: 'sim-project',
      region: 'us-east5',
      baseURL: `${sim.url}/v1`,
      authClient: forged,
      maxRetries: 0,
    });
    await assert.rejects(
      client.messages.create({
        model: 'claude-sonnet-4-5',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (err: unknown) => (err as { status?: number }).status === 401,
    );
  });
});

describe('simulated Azure OpenAI', () => {
  const azure = (apiKey = 'azure-key-1', apiVersion = '2024-10-21') =>
    new AzureOpenAI({ apiKey, endpoint: sim.url, apiVersion, deployment: 'gpt5-prod', maxRetries: 0 });

  test('chat completions on a deployment with api-key and api-version', async () => {
    const res = await azure().chat.completions.create({
      model: 'gpt-5',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(res.model, 'gpt-5');
    assert.equal(res.usage?.completion_tokens, 5);
    const rec = sim.last()!;
    assert.equal(rec.path, '/openai/deployments/gpt5-prod/chat/completions');
    assert.equal(rec.query['api-version'], '2024-10-21');
  });

  test('a wrong key is a 401, an unknown api-version a 404, as Azure answers them', async () => {
    await assert.rejects(
      azure('nope').chat.completions.create({ model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] }),
      (e: unknown) => (e as { status?: number }).status === 401,
    );
    await assert.rejects(
      azure(undefined, '1999-01-01').chat.completions.create({
        model: 'gpt-5',
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (e: unknown) => (e as { status?: number }).status === 404,
    );
  });
});
