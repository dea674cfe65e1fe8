// What the CLI does with a gateway on the user's behalf: learn which IdP it trusts, sign in,
// exchange the ID token for a personal key, keep that key fresh (refreshing the sign-in when it
// nears expiry), and call the identity HTTP API with it.
import { hostname } from 'node:os';
import { loadSignIn, normaliseGateway, type SavedSignIn, saveSignIn } from './credentials.ts';
import {
  browserSignIn,
  type DeviceFlowPrompt,
  deviceSignIn,
  discover,
  type IdpInfo,
  openInBrowser,
  refreshSignIn,
  type SignedIn,
  SignInError,
} from './signin.ts';

/** A saved key closer than this to expiry is replaced before use. */
export const RENEW_BEFORE_MS = 5 * 60_000;

export class GatewayError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A JSON call to the gateway; its error body `{error: {code, message}}` becomes a GatewayError. */
export async function gatewayCall<T>(
  gateway: string,
  path: string,
  init: { method?: string; token?: string; body?: unknown } = {},
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${normaliseGateway(gateway)}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: {
        ...(init.token !== undefined ? { authorization: `Bearer ${init.token}` } : {}),
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new GatewayError(0, 'unreachable', `cannot reach the gateway at ${gateway} (${cause})`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new GatewayError(
      res.status,
      e?.code ?? `http_${res.status}`,
      e?.message ?? `HTTP ${res.status} from ${path}`,
    );
  }
  return body as T;
}

export async function identityProviders(gateway: string): Promise<IdpInfo[]> {
  const config = await gatewayCall<{ providers: IdpInfo[] }>(gateway, '/identity/config');
  return config.providers;
}

interface IssuedKey {
  key: string;
  keyId: string;
  expiresAt: string;
  team: string;
  subject: string;
  email: string | null;
  groups: string[];
  idp: string;
  roles: string[];
}

async function exchange(gateway: string, idp: IdpInfo, tokens: SignedIn): Promise<SavedSignIn> {
  const issued = await gatewayCall<IssuedKey>(gateway, '/identity/keys', {
    token: tokens.idToken,
    body: { label: hostname() },
  });
  const saved: SavedSignIn = {
    gateway: normaliseGateway(gateway),
    idp: idp.name,
    issuer: idp.issuer,
    clientId: idp.clientId,
    scopes: idp.scopes,
    ...(tokens.refreshToken !== undefined ? { refreshToken: tokens.refreshToken } : {}),
    personalKey: issued.key,
    keyId: issued.keyId,
    expiresAt: issued.expiresAt,
    subject: issued.subject,
    ...(issued.email !== null ? { email: issued.email } : {}),
    team: issued.team,
    groups: issued.groups,
    roles: issued.roles,
  };
  return saved;
}

export interface LoginOptions {
  gateway: string;
  flow: 'device' | 'browser';
  /** Which IdentityProvider, when the gateway trusts several. */
  idp?: string;
  onDevicePrompt?: (p: DeviceFlowPrompt) => void;
  /** Where the browser flow sends the user (default: open the system browser and print the URL). */
  openUrl?: (url: string) => void;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export async function login(opts: LoginOptions): Promise<SavedSignIn> {
  const providers = await identityProviders(opts.gateway);
  if (providers.length === 0) {
    throw new SignInError(
      `the gateway at ${opts.gateway} has no IdentityProvider in its policy; ask for a static key`,
    );
  }
  const idp = opts.idp === undefined ? providers[0] : providers.find((p) => p.name === opts.idp);
  if (idp === undefined) {
    throw new SignInError(
      `the gateway knows no identity provider '${opts.idp}' (it has ${providers.map((p) => p.name).join(', ')})`,
    );
  }
  const config = await discover(idp);
  const tokens =
    opts.flow === 'device'
      ? await deviceSignIn(config, idp, opts.onDevicePrompt ?? (() => {}), opts.signal)
      : await browserSignIn(config, idp, opts.openUrl ?? openInBrowser);
  const saved = await exchange(opts.gateway, idp, tokens);
  saveSignIn(saved, opts.env);
  return saved;
}

/**
 * A personal key good for at least RENEW_BEFORE_MS: the saved one, else a new one issued after
 * refreshing the sign-in. Throws SignInError when the user must sign in again (never signed in,
 * no refresh token, or the IdP refused the refresh: a disabled user ends here).
 */
export async function freshKey(
  gateway: string,
  env: NodeJS.ProcessEnv = process.env,
  nowMs: number = Date.now(),
): Promise<SavedSignIn> {
  const saved = loadSignIn(gateway, env);
  if (saved === undefined) throw new SignInError(`not signed in to ${gateway}; run portcullis login`);
  if (Date.parse(saved.expiresAt) - nowMs > RENEW_BEFORE_MS) return saved;
  if (saved.refreshToken === undefined) {
    throw new SignInError(
      'your personal key has expired and there is no refresh token; run portcullis login',
    );
  }
  const idp: IdpInfo = {
    name: saved.idp,
    issuer: saved.issuer,
    clientId: saved.clientId,
    scopes: saved.scopes,
  };
  const config = await discover(idp);
  const tokens = await refreshSignIn(config, saved.refreshToken);
  const next = await exchange(gateway, idp, tokens);
  saveSignIn(next, env);
  return next;
}
