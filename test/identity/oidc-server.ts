// A real OpenID Provider for the identity tests: the certified `oidc-provider` package, on a
// loopback port, with a public native client (device flow, authorization code + PKCE, refresh),
// users whose groups and `disabled` flag tests change, signing keys that can be rotated, and an
// automated "browser" that signs in as a chosen user and consents.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';

export const CLIENT_ID = 'portcullis-cli';
export const AUDIENCE = 'https://portcullis.test';

export interface TestUser {
  email: string;
  groups: string[];
  disabled?: boolean;
}

export interface SigningKey {
  /** Private JWK with kid and alg. */
  jwk: JWK;
}

export async function newSigningKey(kid: string): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { jwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' } };
}

export interface TestIdp {
  issuer: string;
  users: Map<string, TestUser>;
  /** Who the automated browser signs in as. */
  browserUser: string;
  keys: SigningKey[];
  /** Follows a URL like a browser (cookies, redirects, the device confirmation form). Returns the last URL. */
  browse(url: string): Promise<string>;
  /** Publishes `next` first (it signs from now on), keeping the old keys published. */
  rotate(next: SigningKey): Promise<void>;
  /** Stop answering (IdP down) and start again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface TestIdpOptions {
  idTokenTtlSeconds?: number;
  accessTokenTtlSeconds?: number;
}

export async function startTestIdp(options: TestIdpOptions = {}): Promise<TestIdp> {
  const users = new Map<string, TestUser>();
  let keys = [await newSigningKey('k1')];
  let server: Server | undefined;
  let port = 0;
  const state = { browserUser: 'dana' };

  const configuration = (): Configuration => ({
    clients: [
      {
        client_id: CLIENT_ID,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1/callback'],
      },
    ],
    jwks: { keys: keys.map((k) => k.jwk) as never },
    async findAccount(_ctx, id) {
      const user = users.get(id);
      if (user === undefined || user.disabled) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, email: user.email, email_verified: true, groups: user.groups };
        },
      };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'offline_access', 'groups'],
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => AUDIENCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: 'api',
          audience: AUDIENCE,
          accessTokenFormat: 'jwt',
          accessTokenTTL: options.accessTokenTtlSeconds ?? 3600,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    async extraTokenClaims(_ctx, token) {
      const user = users.get((token as { accountId?: string }).accountId ?? '');
      return user === undefined ? undefined : { email: user.email, groups: user.groups };
    },
    async issueRefreshToken(_ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
    },
    ttl: { IdToken: options.idTokenTtlSeconds ?? 3600, DeviceCode: 600, RefreshToken: 86_400 },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['test-cookie-secret'] },
  });

  let provider: Provider;
  const build = () => {
    provider = new Provider(`http://127.0.0.1:${port}`, configuration());
    provider.on('server_error', (_ctx, err) => process.stderr.write(`test IdP error: ${err.message}\n`));
  };

  /** Signs in as `browserUser` and consents to everything asked: the user clicking through. */
  const interaction = async (
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
  ) => {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'login') {
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: state.browserUser } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const grant = new provider.Grant({
      accountId: details.session?.accountId as string,
      clientId: details.params.client_id as string,
    });
    const missing = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  };

  const start = async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith('/interaction/')) {
        interaction(req, res).catch((err: Error) => {
          res.writeHead(500).end(err.message);
        });
        return;
      }
      provider.callback()(req, res);
    });
    await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve));
    if (port === 0) {
      port = (server.address() as AddressInfo).port;
      build();
    }
  };
  const stop = async () => {
    const s = server;
    server = undefined;
    if (s === undefined) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await start();

  const browse = async (startUrl: string): Promise<string> => {
    const jar = new Map<string, string>();
    const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let url = startUrl;
    let method = 'GET';
    let body: string | undefined;
    for (let hops = 0; hops < 30; hops++) {
      if (!url.startsWith(`http://127.0.0.1:${port}`)) return url; // left the IdP (loopback redirect)
      const res = await fetch(url, {
        method,
        redirect: 'manual',
        headers: {
          cookie: cookieHeader(),
          ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        body,
      });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const eq = pair.indexOf('=');
        jar.set(pair.slice(0, eq), pair.slice(eq + 1));
      }
      const location = res.headers.get('location');
      if (location !== null) {
        url = new URL(location, url).href;
        method = 'GET';
        body = undefined;
        continue;
      }
      const html = await res.text();
      // The device pages post forms a browser submits by script or by the user's click: submit them.
      const form = /<form[^>]*method="post"[^>]*>([\s\S]*?)<\/form>/.exec(html);
      if (form === null) return url;
      const action = /action="([^"]+)"/.exec(form[0])?.[1] ?? url;
      const fields = new URLSearchParams();
      for (const m of form[1].matchAll(/<input([^>]*)>/g)) {
        const name = /name="([^"]*)"/.exec(m[1])?.[1];
        const value = /value="([^"]*)"/.exec(m[1])?.[1];
        if (name !== undefined) fields.set(name, value ?? '');
      }
      url = new URL(action, url).href;
      method = 'POST';
      body = fields.toString();
    }
    throw new Error('too many redirects');
  };

  const idp: TestIdp = {
    get issuer() {
      return `http://127.0.0.1:${port}`;
    },
    users,
    get browserUser() {
      return state.browserUser;
    },
    set browserUser(v: string) {
      state.browserUser = v;
    },
    get keys() {
      return keys;
    },
    browse,
    async rotate(next) {
      keys = [next, ...keys];
      await stop();
      build();
      await start();
    },
    stop,
    start,
    close: stop,
  };
  return idp;
}
