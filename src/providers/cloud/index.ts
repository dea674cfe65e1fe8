// Cloud platforms that serve the providers' models under their own paths and authentication: Amazon
// Bedrock (SigV4, event-stream framing), Google Vertex AI (OAuth / self-signed JWT) and Azure OpenAI
// (api-key or Entra ID). Each turns a call in the provider's wire format into the cloud's request.
// The clouds' libraries load on a provider's first call, not at start: together they hold ~80 MB of
// resident memory and ~0.5 s of start-up that a gateway without cloud providers should not pay.
import type { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { TokenCredential } from '@azure/identity';
import type { SignatureV4 } from '@smithy/signature-v4';
import type { GoogleAuth } from 'google-auth-library';
import type { Surface } from '../../policy/decision.ts';
import type { ResolvedProvider } from '../../policy/snapshot.ts';
import { DEFAULT_CLOUD_BETAS, filterBetas } from './betas.ts';
import { readSecretRef } from './secret.ts';

export { EVENT_STREAM_CONTENT_TYPE, EventStreamToSse } from './eventstream.ts';

type Cloud = NonNullable<ResolvedProvider['cloud']>;
type AwsCredentialIdentityProvider = ReturnType<typeof fromNodeProviderChain>;
type AwsCredentialIdentity = Awaited<ReturnType<AwsCredentialIdentityProvider>>;

export interface CloudRequest {
  /** The surface the upstream is called on (after any translation). */
  surface: Surface | 'bedrock.converse';
  model: string;
  stream: boolean;
  body: Record<string, unknown>;
  /** Headers going upstream; the cloud may remove some (beta flags it takes in the body). */
  headers: Record<string, string>;
}

export interface PreparedRequest {
  /** Path and query below the provider's base URL. */
  path: string;
  body: Buffer;
  /** Headers to add (authentication); `remove` lists the ones to leave out. */
  headers: Record<string, string>;
  remove: string[];
  /** Bedrock streams AWS event-stream frames, not SSE. */
  eventStream: boolean;
  /** What the cloud does not accept and was left out (beta flags, fields). */
  dropped: string[];
}

export interface CloudClient {
  readonly kind: 'bedrock' | 'vertex' | 'azure';
  /** Readiness problem (a missing credential) without a secret in it; null when callable. */
  readonly problem: string | null;
  prepare(origin: URL, basePath: string, req: CloudRequest): Promise<PreparedRequest>;
}

class Bedrock implements CloudClient {
  readonly kind = 'bedrock';
  readonly problem: string | null = null;
  readonly #cfg: NonNullable<Cloud['bedrock']>;
  readonly #providerId: string;
  /** Static keys read from the policy's secret references (a missing one is a readiness problem). */
  readonly #identity: AwsCredentialIdentity | undefined;
  #signer: Promise<SignatureV4> | undefined;

  constructor(provider: ResolvedProvider, cfg: NonNullable<Cloud['bedrock']>) {
    this.#cfg = cfg;
    this.#providerId = provider.id;
    try {
      if (cfg.accessKeyId !== undefined || cfg.secretAccessKey !== undefined) {
        this.#identity = {
          accessKeyId: readSecretRef(
            cfg.accessKeyId ?? {},
            `Bedrock access key id of provider ${provider.id}`,
          ),
          secretAccessKey: readSecretRef(
            cfg.secretAccessKey ?? {},
            `Bedrock secret key of provider ${provider.id}`,
          ),
          sessionToken:
            cfg.sessionToken === undefined
              ? undefined
              : readSecretRef(cfg.sessionToken, `Bedrock session token of provider ${provider.id}`),
        };
      }
    } catch (err) {
      this.problem = (err as Error).message;
    }
  }

  async #makeSigner(): Promise<SignatureV4> {
    const cfg = this.#cfg;
    const [{ Sha256 }, providers, { SignatureV4 }] = await Promise.all([
      import('@aws-crypto/sha256-js'),
      import('@aws-sdk/credential-providers'),
      import('@smithy/signature-v4'),
    ]);
    const identity = this.#identity;
    let credentials: AwsCredentialIdentityProvider;
    if (identity !== undefined) credentials = async () => identity;
    else if (cfg.profile !== undefined) credentials = providers.fromIni({ profile: cfg.profile });
    else credentials = providers.fromNodeProviderChain();
    if (cfg.roleArn !== undefined) {
      credentials = providers.fromTemporaryCredentials({
        masterCredentials: credentials,
        params: { RoleArn: cfg.roleArn, RoleSessionName: `portcullis-${this.#providerId}` },
        clientConfig: { region: cfg.region },
      });
    }
    return new SignatureV4({ credentials, region: cfg.region, service: 'bedrock', sha256: Sha256 });
  }

  async prepare(origin: URL, basePath: string, req: CloudRequest): Promise<PreparedRequest> {
    if (this.problem !== null) throw new Error(this.problem);
    this.#signer ??= this.#makeSigner();
    const signer = await this.#signer;
    const converse = this.#cfg.api === 'converse';
    if (req.surface !== (converse ? 'bedrock.converse' : 'anthropic.messages'))
      throw new Error(`Bedrock ${converse ? 'Converse' : 'InvokeModel'} does not serve ${req.surface} here`);
    const body = { ...req.body };
    let dropped: string[] = [];
    let action: string;
    if (converse) action = req.stream ? 'converse-stream' : 'converse';
    else {
      delete body.model;
      delete body.stream;
      body.anthropic_version = 'bedrock-2023-05-31';
      const betas = filterBetas(req.headers['anthropic-beta'], this.#cfg.betas ?? DEFAULT_CLOUD_BETAS, body);
      if (betas.kept.length > 0) body.anthropic_beta = betas.kept;
      dropped = betas.dropped;
      action = req.stream ? 'invoke-with-response-stream' : 'invoke';
    }
    const path = `${basePath}/model/${encodeURIComponent(req.model)}/${action}`;
    const text = Buffer.from(JSON.stringify(body));
    const accept = req.stream ? 'application/vnd.amazon.eventstream' : 'application/json';
    const signed = await signer.sign({
      method: 'POST',
      protocol: origin.protocol,
      hostname: origin.hostname,
      port: origin.port === '' ? undefined : Number(origin.port),
      path,
      query: {},
      headers: { host: origin.host, 'content-type': 'application/json', accept },
      body: text,
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(signed.headers)) if (k !== 'host') headers[k.toLowerCase()] = v;
    return {
      path,
      body: text,
      headers,
      remove: ['anthropic-beta', 'anthropic-version', 'x-api-key', 'authorization'],
      eventStream: req.stream,
      dropped,
    };
  }
}

class Vertex implements CloudClient {
  readonly kind = 'vertex';
  readonly problem: string | null = null;
  readonly #cfg: NonNullable<Cloud['vertex']>;
  #auth: Promise<GoogleAuth> | undefined;

  constructor(cfg: NonNullable<Cloud['vertex']>) {
    this.#cfg = cfg;
  }

  // A service account signs its own short-lived JWTs (no token endpoint round trip); other
  // Application Default Credentials fetch OAuth tokens. The library refreshes either before expiry.
  async #makeAuth(): Promise<GoogleAuth> {
    const { GoogleAuth } = await import('google-auth-library');
    const auth = new GoogleAuth({
      keyFile: this.#cfg.credentialsFile,
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    });
    auth.useJWTAccessWithScope = true;
    return auth;
  }

  async prepare(origin: URL, basePath: string, req: CloudRequest): Promise<PreparedRequest> {
    const base = `${basePath}/v1/projects/${this.#cfg.project}/locations/${this.#cfg.region}/publishers`;
    const model = encodeURIComponent(req.model);
    let path: string;
    const body = { ...req.body };
    let dropped: string[] = [];
    let betaHeader: Record<string, string> = {};
    if (req.surface === 'anthropic.messages') {
      path = `${base}/anthropic/models/${model}:${req.stream ? 'streamRawPredict' : 'rawPredict'}`;
      delete body.model;
      body.anthropic_version = 'vertex-2023-10-16';
      const betas = filterBetas(req.headers['anthropic-beta'], this.#cfg.betas ?? DEFAULT_CLOUD_BETAS, body);
      dropped = betas.dropped;
      if (betas.kept.length > 0) betaHeader = { 'anthropic-beta': betas.kept.join(',') };
    } else if (req.surface === 'gemini.generate') {
      path = `${base}/google/models/${model}:${req.stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`;
    } else {
      throw new Error(`Vertex AI serves Claude and Gemini here, not ${req.surface}`);
    }
    this.#auth ??= this.#makeAuth();
    const auth = await (await this.#auth).getRequestHeaders(`${origin.origin}${path}`);
    const authorization = auth.get('authorization');
    if (authorization === null) throw new Error('Vertex AI credentials produced no authorization');
    return {
      path,
      body: Buffer.from(JSON.stringify(body)),
      headers: { authorization, ...betaHeader },
      remove: ['anthropic-beta', 'anthropic-version', 'x-api-key', 'x-goog-api-key'],
      eventStream: false,
      dropped,
    };
  }
}

const AZURE_SCOPE = 'https://cognitiveservices.azure.com/.default';
/** Entra ID hosts of Microsoft's public and sovereign clouds, which MSAL's instance discovery knows. */
const MICROSOFT_AUTHORITIES = new Set([
  'login.microsoftonline.com',
  'login.microsoft.com',
  'login.windows.net',
  'sts.windows.net',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
  'login.microsoftonline.us',
  'login-us.microsoftonline.com',
  'login.microsoftonline.de',
]);

class Azure implements CloudClient {
  readonly kind = 'azure';
  readonly problem: string | null = null;
  readonly #cfg: NonNullable<Cloud['azure']>;
  readonly #apiKey: string | null = null;
  #credential: Promise<TokenCredential> | null = null;
  #token: { value: string; expires: number } | null = null;

  constructor(provider: ResolvedProvider, cfg: NonNullable<Cloud['azure']>) {
    this.#cfg = cfg;
    const cred = provider.credential;
    if (cred.env !== undefined || cred.file !== undefined) {
      try {
        this.#apiKey = readSecretRef(
          { fromEnv: cred.env, fromFile: cred.file },
          `api-key of provider ${provider.id}`,
        );
      } catch (err) {
        this.problem = (err as Error).message;
      }
    }
  }

  async #entra(): Promise<string> {
    if (this.#token !== null && this.#token.expires - Date.now() > 5 * 60_000) return this.#token.value;
    this.#credential ??= (async () => {
      const identity = await import('@azure/identity');
      const c = this.#cfg;
      // Outside Microsoft's own clouds (Azure Stack, a test authority) MSAL cannot ask Microsoft's
      // instance discovery about the authority: it is trusted as configured.
      const opts =
        c.authorityHost === undefined
          ? {}
          : {
              authorityHost: c.authorityHost,
              disableInstanceDiscovery: !MICROSOFT_AUTHORITIES.has(new URL(c.authorityHost).host),
            };
      if (c.tenantId !== undefined && c.clientId !== undefined && c.clientSecret !== undefined)
        return new identity.ClientSecretCredential(
          c.tenantId,
          c.clientId,
          readSecretRef(c.clientSecret, 'Azure client secret'),
          opts,
        );
      return new identity.DefaultAzureCredential(opts);
    })();
    let token: Awaited<ReturnType<TokenCredential['getToken']>>;
    try {
      token = await (await this.#credential).getToken(AZURE_SCOPE);
    } catch (err) {
      // MSAL's message runs to several fields of "Not Available"; the token service's code and
      // description are what says why.
      const message = (err as Error).message ?? String(err);
      const m = /^(\w+): .*?Description: (.*?)(?: - |$)/s.exec(message);
      const why = m === null ? message.split('\n')[0] : `${m[1]}: ${m[2]}`;
      throw new Error(`Azure OpenAI: Microsoft Entra ID gave no token (${why})`);
    }
    if (token === null) throw new Error('Azure OpenAI: Microsoft Entra ID gave no token');
    this.#token = { value: token.token, expires: token.expiresOnTimestamp };
    return token.token;
  }

  async prepare(_origin: URL, basePath: string, req: CloudRequest): Promise<PreparedRequest> {
    const deployment = this.#cfg.deployments?.[req.model] ?? req.model;
    const version = `api-version=${encodeURIComponent(this.#cfg.apiVersion)}`;
    const body = { ...req.body };
    let path: string;
    if (req.surface === 'openai.chat')
      path = `${basePath}/openai/deployments/${encodeURIComponent(deployment)}/chat/completions?${version}`;
    else if (req.surface === 'openai.embeddings')
      path = `${basePath}/openai/deployments/${encodeURIComponent(deployment)}/embeddings?${version}`;
    else if (req.surface === 'openai.responses') {
      path = `${basePath}/openai/responses?${version}`;
      body.model = deployment;
    } else throw new Error(`Azure OpenAI serves the OpenAI APIs, not ${req.surface}`);
    const headers: Record<string, string> =
      this.#apiKey !== null
        ? { 'api-key': this.#apiKey }
        : { authorization: `Bearer ${await this.#entra()}` };
    return {
      path,
      body: Buffer.from(JSON.stringify(body)),
      headers,
      remove: ['authorization', 'api-key'],
      eventStream: false,
      dropped: [],
    };
  }
}

const clients = new WeakMap<ResolvedProvider, CloudClient>();

/** The provider's cloud client (one per resolved provider, so tokens and credentials are cached), or null. */
export function cloudClient(provider: ResolvedProvider): CloudClient | null {
  const cloud = provider.cloud;
  if (cloud === undefined) return null;
  let c = clients.get(provider);
  if (c === undefined) {
    if (cloud.bedrock !== undefined) c = new Bedrock(provider, cloud.bedrock);
    else if (cloud.vertex !== undefined) c = new Vertex(cloud.vertex);
    else c = new Azure(provider, cloud.azure!);
    clients.set(provider, c);
  }
  return c;
}
