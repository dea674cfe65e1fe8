// The simulator as Amazon Bedrock, Google Vertex AI and Azure OpenAI: their paths, their body rules and
// their authentication, verified as the services do — SigV4 signatures recomputed from the request,
// Vertex bearer JWTs checked against the service account's public key, Azure api-keys or Microsoft
// Entra ID access tokens (signature, audience, issuer, expiry) and api-versions — and Bedrock's answers
// in AWS event-stream frames.
import { createPublicKey, verify } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { encodeChunkFrame, encodeEventFrame } from '../providers/cloud/eventstream.ts';
import * as anthropic from './anthropic.ts';
import * as gemini from './gemini.ts';
import * as openai from './openai.ts';
import { json, type SimCall, type SimReply } from './types.ts';

export interface CloudOptions {
  bedrock?: {
    region: string;
    /** Access key id → its secret (and session token, for temporary credentials). */
    credentials: Record<string, { secretAccessKey: string; sessionToken?: string }>;
    betas?: string[];
  };
  vertex?: {
    /** Service-account e-mail → its public key (PEM). */
    serviceAccounts: Record<string, string>;
    betas?: string[];
  };
  azure?: {
    apiKeys: string[];
    /** Entra ID access tokens accepted as `Authorization: Bearer`: the token service's signing keys and issuer. */
    entra?: { jwks: JSONWebKeySet; issuer: string };
    /** Deployment name → model. */
    deployments: Record<string, string>;
    apiVersions: string[];
  };
}

export type CloudApi = 'anthropic' | 'gemini' | 'openai';

export interface CloudRoute {
  api: CloudApi;
  cloud: 'bedrock' | 'vertex' | 'azure';
  model: string;
  stream?: boolean;
  /** The body the wire format's handler sees (Azure Responses: model is the deployment's). */
  run: 'messages' | 'generate' | 'chat' | 'responses' | 'converse';
  /** Authentication and body rules; an error reply when they fail. */
  check(
    req: IncomingMessage,
    raw: Buffer,
    body: Record<string, unknown>,
    path: string,
    rawPath: string,
  ): Promise<SimReply | undefined>;
}

function awsError(status: number, type: string, message: string): SimReply {
  return {
    kind: 'json',
    status,
    body: { message },
    headers: { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/` },
  };
}

export function bedrockError(status: number, message: string): SimReply {
  const type =
    status === 429
      ? 'ThrottlingException'
      : status === 403
        ? 'AccessDeniedException'
        : status === 404
          ? 'ResourceNotFoundException'
          : status === 503
            ? 'ServiceUnavailableException'
            : status >= 500
              ? 'InternalServerException'
              : 'ValidationException';
  return awsError(status, type, message);
}

function azureError(status: number, code: string, message: string): SimReply {
  return json({ error: { code, message } }, status);
}

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** Recomputes the request's SigV4 signature with the secret of the key it names, as AWS does. */
async function verifySigV4(
  req: IncomingMessage,
  raw: Buffer,
  rawPath: string,
  opts: NonNullable<CloudOptions['bedrock']>,
): Promise<SimReply | undefined> {
  const auth = req.headers.authorization ?? '';
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (m === null)
    return awsError(
      403,
      'IncompleteSignatureException',
      'Authorization header requires SigV4 Credential, SignedHeaders and Signature',
    );
  const [, keyId, day, region, service, signedHeaders, signature] = m;
  const cred = opts.credentials[keyId];
  if (cred === undefined)
    return awsError(
      403,
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    );
  if (region !== opts.region || service !== 'bedrock')
    return awsError(
      403,
      'InvalidSignatureException',
      `Credential should be scoped to a valid region (${opts.region}) and service bedrock`,
    );
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const d = AMZ_DATE.exec(amzDate);
  if (d === null || !amzDate.startsWith(day))
    return awsError(
      403,
      'InvalidSignatureException',
      'x-amz-date is missing or does not match the credential scope',
    );
  const when = new Date(Date.UTC(+d[1], +d[2] - 1, +d[3], +d[4], +d[5], +d[6]));
  if (Math.abs(Date.now() - when.getTime()) > 5 * 60_000)
    return awsError(403, 'InvalidSignatureException', 'Signature expired');
  if (cred.sessionToken !== undefined && req.headers['x-amz-security-token'] !== cred.sessionToken)
    return awsError(
      403,
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    );
  const names = signedHeaders.split(';');
  if (!names.includes('host'))
    return awsError(403, 'InvalidSignatureException', 'host must be a signed header');
  const headers: Record<string, string> = {};
  for (const name of names) {
    const v = req.headers[name];
    headers[name] = Array.isArray(v) ? v.join(',') : (v ?? '');
  }
  const q = rawPath.indexOf('?');
  const query: Record<string, string> = {};
  if (q !== -1) for (const [k, v] of new URLSearchParams(rawPath.slice(q + 1))) query[k] = v;
  const signer = new SignatureV4({
    credentials: {
      accessKeyId: keyId,
      secretAccessKey: cred.secretAccessKey,
      sessionToken: cred.sessionToken,
    },
    region,
    service,
    sha256: Sha256,
  });
  const expected = await signer.sign(
    {
      method: req.method ?? 'POST',
      protocol: 'https:',
      hostname: headers.host,
      path: q === -1 ? rawPath : rawPath.slice(0, q),
      query,
      headers,
      body: raw,
    },
    { signingDate: when, signableHeaders: new Set(names), unsignableHeaders: new Set() },
  );
  const got = /Signature=([0-9a-f]{64})/.exec(String(expected.headers.authorization ?? ''))?.[1];
  if (got !== signature)
    return awsError(
      403,
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided.',
    );
  return undefined;
}

/** What Bedrock checks of a Converse request before a model sees it. */
function converseBody(body: Record<string, unknown>): SimReply | undefined {
  if ('model' in body) return bedrockError(400, 'extraneous key [model] is not permitted');
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    return bedrockError(400, 'messages: must not be empty');
  const usesTools = JSON.stringify(body.messages).includes('"toolUse"');
  if (usesTools && typeof body.toolConfig !== 'object')
    return bedrockError(
      400,
      'The toolConfig field must be defined when using toolUse and toolResult content blocks.',
    );
  return undefined;
}

/** A Converse answer, whole or as ConverseStream frames. */
export function converse(c: SimCall, stream: boolean): SimReply {
  const stop = c.toolCall ? 'tool_use' : c.finish === 'stop' ? 'end_turn' : 'max_tokens';
  const usage = {
    inputTokens: c.inputTokens - c.cachedTokens,
    outputTokens: c.words.length,
    totalTokens: c.inputTokens + c.words.length,
    ...(c.cachedTokens > 0 ? { cacheReadInputTokens: c.cachedTokens } : {}),
  };
  const toolUse = c.toolCall ? { toolUseId: `tooluse_${c.id}`, name: c.toolCall.name } : undefined;
  if (!stream) {
    const content: unknown[] = [{ text: c.words.join(' ') }];
    if (toolUse) content.push({ toolUse: { ...toolUse, input: JSON.parse(c.toolCall!.arguments) } });
    return json({
      output: { message: { role: 'assistant', content } },
      stopReason: stop,
      usage,
      metrics: { latencyMs: 1 },
    });
  }
  const frames: Uint8Array[] = [encodeEventFrame('messageStart', { role: 'assistant' })];
  for (const p of c.pieces)
    frames.push(encodeEventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: p } }));
  frames.push(encodeEventFrame('contentBlockStop', { contentBlockIndex: 0 }));
  if (toolUse) {
    frames.push(
      encodeEventFrame('contentBlockStart', { contentBlockIndex: 1, start: { toolUse } }),
      encodeEventFrame('contentBlockDelta', {
        contentBlockIndex: 1,
        delta: { toolUse: { input: c.toolCall!.arguments } },
      }),
      encodeEventFrame('contentBlockStop', { contentBlockIndex: 1 }),
    );
  }
  frames.push(
    encodeEventFrame('messageStop', { stopReason: stop }),
    encodeEventFrame('metadata', { usage, metrics: { latencyMs: 1 } }),
  );
  return {
    kind: 'stream',
    contentType: 'application/vnd.amazon.eventstream',
    parts: frames.map((f) => Buffer.from(f).toString('latin1')),
    binary: true,
  };
}

function versionOk(v: unknown, cloudVersion: string): boolean {
  return typeof v === 'string' && (v === cloudVersion || /^\d{4}-\d{2}-\d{2}$/.test(v));
}

function bedrockBody(body: Record<string, unknown>, allowed: readonly string[]): SimReply | undefined {
  // The long-standing Bedrock version, or an Anthropic API version (what newer SDKs send).
  if (!versionOk(body.anthropic_version, 'bedrock-2023-05-31'))
    return bedrockError(400, 'anthropic_version: must be bedrock-2023-05-31 or an Anthropic API version');
  for (const k of ['model', 'stream'])
    if (k in body) return bedrockError(400, `extraneous key [${k}] is not permitted`);
  const betas = body.anthropic_beta;
  if (betas !== undefined) {
    if (!Array.isArray(betas)) return bedrockError(400, 'anthropic_beta: must be an array');
    for (const b of betas)
      if (!allowed.includes(String(b))) return bedrockError(400, `invalid beta flag: ${String(b)}`);
  }
  return undefined;
}

const DEFAULT_BETAS = [
  'interleaved-thinking-2025-05-14',
  'context-1m-2025-08-07',
  'context-management-2025-06-27',
  'token-efficient-tools-2025-02-19',
  'fine-grained-tool-streaming-2025-05-14',
];

function b64urlJson(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const AZURE_AUDIENCE = 'https://cognitiveservices.azure.com';

/** An Entra ID access token for Azure AI services: signed by the token service, for its audience, unexpired. */
async function entraTokenValid(
  token: string,
  entra: NonNullable<CloudOptions['azure']>['entra'],
): Promise<boolean> {
  if (entra === undefined) return false;
  try {
    await jwtVerify(token, createLocalJWKSet(entra.jwks), {
      audience: AZURE_AUDIENCE,
      issuer: entra.issuer,
      algorithms: ['RS256'],
    });
    return true;
  } catch {
    return false;
  }
}

/** A Google bearer token: here, a service account's self-signed JWT, checked against its public key. */
function verifyGoogleToken(
  req: IncomingMessage,
  opts: NonNullable<CloudOptions['vertex']>,
): SimReply | undefined {
  const denied = (msg: string) => gemini.error(401, `Request had invalid authentication credentials. ${msg}`);
  const auth = req.headers.authorization ?? '';
  if (!auth.startsWith('Bearer ')) return denied('Expected OAuth 2 access token.');
  const parts = auth.slice(7).split('.');
  if (parts.length !== 3) return denied('The token is not a JWT this service accepts.');
  const header = b64urlJson(parts[0]);
  const claims = b64urlJson(parts[1]);
  if (header?.alg !== 'RS256' || claims === undefined) return denied('Unsupported token.');
  const pem = opts.serviceAccounts[String(claims.iss)];
  if (pem === undefined || claims.sub !== claims.iss) return denied('Unknown service account.');
  const ok = verify(
    'RSA-SHA256',
    Buffer.from(`${parts[0]}.${parts[1]}`),
    createPublicKey(pem),
    Buffer.from(parts[2], 'base64url'),
  );
  if (!ok) return denied('Bad signature.');
  const now = Date.now() / 1000;
  if (typeof claims.exp !== 'number' || claims.exp < now) return denied('Token expired.');
  const scope = String(claims.scope ?? '');
  if (
    !scope.split(' ').includes('https://www.googleapis.com/auth/cloud-platform') &&
    claims.aud !== 'https://aiplatform.googleapis.com/'
  )
    return gemini.error(403, 'Request had insufficient authentication scopes.');
  return undefined;
}

/** The cloud endpoint `path` names, or null. */
export function cloudRoute(
  method: string,
  path: string,
  query: URLSearchParams,
  opts: CloudOptions,
): CloudRoute | null {
  if (method !== 'POST') return null;
  const bedrock = opts.bedrock;
  let m = /^\/model\/([^/]+)\/(invoke|invoke-with-response-stream)$/.exec(path);
  if (m !== null && bedrock !== undefined) {
    return {
      api: 'anthropic',
      cloud: 'bedrock',
      model: decodeURIComponent(m[1]),
      stream: m[2] === 'invoke-with-response-stream',
      run: 'messages',
      check: async (req, raw, body, _path, rawPath) =>
        (await verifySigV4(req, raw, rawPath, bedrock)) ?? bedrockBody(body, bedrock.betas ?? DEFAULT_BETAS),
    };
  }
  m = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(path);
  if (m !== null && bedrock !== undefined) {
    return {
      api: 'anthropic',
      cloud: 'bedrock',
      model: decodeURIComponent(m[1]),
      stream: m[2] === 'converse-stream',
      run: 'converse',
      check: async (req, raw, body, _path, rawPath) =>
        (await verifySigV4(req, raw, rawPath, bedrock)) ?? converseBody(body),
    };
  }
  const vertex = opts.vertex;
  m =
    /^\/v1(?:beta1)?\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/(anthropic|google)\/models\/([^/:]+):(rawPredict|streamRawPredict|generateContent|streamGenerateContent)$/.exec(
      path,
    );
  if (m !== null && vertex !== undefined) {
    const claude = m[3] === 'anthropic';
    const action = m[5];
    return {
      api: claude ? 'anthropic' : 'gemini',
      cloud: 'vertex',
      model: decodeURIComponent(m[4]),
      stream: claude ? undefined : action === 'streamGenerateContent',
      run: claude ? 'messages' : 'generate',
      check: async (req, _raw, body) => {
        const denied = verifyGoogleToken(req, vertex);
        if (denied !== undefined) return denied;
        if (claude !== (action === 'rawPredict' || action === 'streamRawPredict'))
          return gemini.error(400, `${action} is not served for this publisher`);
        if (claude) {
          if (!versionOk(body.anthropic_version, 'vertex-2023-10-16'))
            return anthropic.error(
              400,
              'anthropic_version: must be vertex-2023-10-16 or an Anthropic API version',
            );
          if ('model' in body) return anthropic.error(400, 'model: Extra inputs are not permitted');
          if ((action === 'streamRawPredict') !== (body.stream === true))
            return anthropic.error(
              400,
              'stream must be true with streamRawPredict and absent with rawPredict',
            );
          const betas = String(req.headers['anthropic-beta'] ?? '')
            .split(',')
            .map((b) => b.trim())
            .filter((b) => b !== '');
          for (const b of betas)
            if (!(vertex.betas ?? DEFAULT_BETAS).includes(b))
              return anthropic.error(400, `Unexpected value(s) \`${b}\` for the \`anthropic-beta\` header.`);
        } else if (action === 'streamGenerateContent' && query.get('alt') !== 'sse') {
          return undefined;
        }
        return undefined;
      },
    };
  }
  const azure = opts.azure;
  m = /^\/openai\/(?:deployments\/([^/]+)\/(chat\/completions|embeddings)|(responses))$/.exec(path);
  if (m !== null && azure !== undefined) {
    const deployment = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
    const run = m[3] === 'responses' ? 'responses' : 'chat';
    return {
      api: 'openai',
      cloud: 'azure',
      model: deployment === undefined ? '' : (azure.deployments[deployment] ?? ''),
      run,
      check: async (req, _raw, body) => {
        const version = query.get('api-version');
        if (version === null)
          return azureError(
            400,
            'MissingApiVersionParameter',
            'The api-version query parameter (?api-version=) is required for all requests.',
          );
        if (!azure.apiVersions.includes(version)) return azureError(404, '404', 'Resource not found');
        const key = req.headers['api-key'];
        const bearer = req.headers.authorization?.startsWith('Bearer ') === true;
        if (bearer && typeof key !== 'string') {
          if (!(await entraTokenValid(req.headers.authorization?.slice(7) ?? '', azure.entra)))
            return azureError(
              401,
              '401',
              `Unauthorized. Access token is missing, invalid, audience is incorrect (${AZURE_AUDIENCE}), or have expired.`,
            );
        } else if (typeof key !== 'string' || !azure.apiKeys.includes(key))
          return azureError(
            401,
            '401',
            'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
          );
        const name = deployment ?? String(body.model ?? '');
        if (azure.deployments[name] === undefined)
          return azureError(
            404,
            'DeploymentNotFound',
            'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
          );
        return undefined;
      },
    };
  }
  return null;
}

export function cloudModel(route: CloudRoute, body: Record<string, unknown>, opts: CloudOptions): string {
  if (route.cloud === 'azure' && route.run === 'responses')
    return opts.azure?.deployments[String(body.model)] ?? '';
  return route.model;
}

/** Bedrock's stream: the Anthropic events of an SSE reply, each in an event-stream frame. */
export function toEventStream(reply: SimReply): SimReply {
  if (reply.kind !== 'stream') return reply;
  const frames = reply.parts.map((part) => {
    const data = /^data: (.*)$/m.exec(part)?.[1] ?? '{}';
    return Buffer.from(encodeChunkFrame(data)).toString('latin1');
  });
  return { kind: 'stream', contentType: 'application/vnd.amazon.eventstream', parts: frames, binary: true };
}

export { anthropic, gemini, openai };
