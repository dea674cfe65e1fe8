// Signing a developer in against the identity provider with openid-client: the device
// authorization grant (any terminal) or the authorization code grant with PKCE and a loopback
// redirect (machines with a browser), and refreshing the tokens later without a prompt.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';

export interface IdpInfo {
  name: string;
  issuer: string;
  clientId: string;
  scopes: string[];
}

export interface SignedIn {
  idToken: string;
  refreshToken?: string;
  accessToken: string;
  /** Epoch ms the ID token expires. */
  idTokenExpiresAt: number;
}

export class SignInError extends Error {}

/** Discovery against the issuer; http issuers (local test IdPs) only on loopback addresses. */
export async function discover(idp: IdpInfo): Promise<oidc.Configuration> {
  const url = new URL(idp.issuer);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  try {
    return await oidc.discovery(url, idp.clientId, { token_endpoint_auth_method: 'none' }, oidc.None(), {
      execute: url.protocol === 'http:' && loopback ? [oidc.allowInsecureRequests] : [],
      timeout: 10,
    });
  } catch (err) {
    throw new SignInError(
      `cannot reach identity provider '${idp.name}' at ${idp.issuer} (${describe(err)}); sign-in is not possible until it answers. Keys you already hold keep working until they expire.`,
    );
  }
}

function describe(err: unknown): string {
  const e = err as {
    message?: string;
    cause?: { code?: string; message?: string };
    error?: string;
    error_description?: string;
  };
  if (e.error !== undefined) return `${e.error}${e.error_description ? `: ${e.error_description}` : ''}`;
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

function signedIn(tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): SignedIn {
  if (tokens.id_token === undefined)
    throw new SignInError('the identity provider returned no ID token (is openid in the scopes?)');
  const claims = tokens.claims();
  return {
    idToken: tokens.id_token,
    accessToken: tokens.access_token,
    ...(tokens.refresh_token !== undefined ? { refreshToken: tokens.refresh_token } : {}),
    idTokenExpiresAt: (claims?.exp ?? 0) * 1000,
  };
}

export interface DeviceFlowPrompt {
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  expiresInSeconds: number;
}

/** Device authorization grant: shows a code to enter on another device, then waits for the user. */
export async function deviceSignIn(
  config: oidc.Configuration,
  idp: IdpInfo,
  prompt: (p: DeviceFlowPrompt) => void,
  signal?: AbortSignal,
): Promise<SignedIn> {
  let started: Awaited<ReturnType<typeof oidc.initiateDeviceAuthorization>>;
  try {
    started = await oidc.initiateDeviceAuthorization(config, { scope: idp.scopes.join(' ') });
  } catch (err) {
    throw new SignInError(`the identity provider refused to start a device sign-in: ${describe(err)}`);
  }
  prompt({
    userCode: started.user_code,
    verificationUri: started.verification_uri,
    ...(started.verification_uri_complete !== undefined
      ? { verificationUriComplete: started.verification_uri_complete }
      : {}),
    expiresInSeconds: started.expires_in,
  });
  try {
    return signedIn(await oidc.pollDeviceAuthorizationGrant(config, started, undefined, { signal }));
  } catch (err) {
    throw new SignInError(`sign-in did not complete: ${describe(err)}`);
  }
}

/**
 * Authorization code + PKCE: listens on a loopback port, sends the browser to the IdP (through
 * `openUrl`), and exchanges the code that comes back to the loopback redirect.
 */
export async function browserSignIn(
  config: oidc.Configuration,
  idp: IdpInfo,
  openUrl: (url: string) => void,
  timeoutMs = 300_000,
): Promise<SignedIn> {
  const verifier = oidc.randomPKCECodeVerifier();
  const challenge = await oidc.calculatePKCECodeChallenge(verifier);
  const state = oidc.randomState();
  let finish: (url: URL) => void = () => {};
  const callback = new Promise<URL>((resolve) => {
    finish = resolve;
  });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Portcullis: signed in. You can close this window and return to the terminal.\n');
    finish(url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
  const timer = setTimeout(() => finish(new URL('http://127.0.0.1/callback?error=timeout')), timeoutMs);
  try {
    openUrl(
      oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: idp.scopes.join(' '),
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state,
        ...(idp.scopes.includes('offline_access') ? { prompt: 'consent' } : {}),
      }).href,
    );
    const returned = await callback;
    const error = returned.searchParams.get('error');
    if (error !== null) {
      throw new SignInError(
        error === 'timeout'
          ? 'no answer from the browser in time'
          : `the identity provider refused the sign-in: ${error} ${returned.searchParams.get('error_description') ?? ''}`.trim(),
      );
    }
    const current = new URL(returned.pathname + returned.search, redirectUri);
    try {
      return signedIn(
        await oidc.authorizationCodeGrant(config, current, {
          pkceCodeVerifier: verifier,
          expectedState: state,
        }),
      );
    } catch (err) {
      throw new SignInError(`the sign-in could not be completed: ${describe(err)}`);
    }
  } finally {
    clearTimeout(timer);
    server.close();
  }
}

/** New tokens from a refresh token; fails when the IdP has disabled the user or revoked the grant. */
export async function refreshSignIn(config: oidc.Configuration, refreshToken: string): Promise<SignedIn> {
  try {
    const tokens = await oidc.refreshTokenGrant(config, refreshToken);
    const result = signedIn(tokens);
    return { ...result, refreshToken: result.refreshToken ?? refreshToken };
  } catch (err) {
    if (err instanceof SignInError) throw err;
    throw new SignInError(`the identity provider no longer accepts your sign-in (${describe(err)})`);
  }
}

/** Best effort to open a URL in the user's browser; the URL is printed anyway. */
export function openInBrowser(url: string): void {
  const command =
    process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {}
}
