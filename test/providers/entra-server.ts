// A Microsoft Entra ID stand-in for the Azure OpenAI tests: the certified `oidc-provider` package as
// the token service, over HTTPS (MSAL refuses a plain-HTTP authority) with a throwaway CA this
// process trusts, at Entra's paths (`/{tenant}/v2.0/.well-known/openid-configuration`), issuing
// RS256 JWT access tokens for Azure AI services to one confidential client by the client-credentials
// grant. The official client (@azure/identity, MSAL underneath) talks to it as it talks to Entra ID.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { exportJWK, generateKeyPair, type JSONWebKeySet } from 'jose';
import Provider from 'oidc-provider';
import { makeCertificates } from '../observability/rsyslog.ts';

export const TENANT = '7f3c2a1e-0b9d-4c8e-a5f6-1d2e3f4a5b6c';
export const AZURE_AUDIENCE = 'https://cognitiveservices.azure.com';

export interface TokenService {
  /** The `authorityHost` to configure, e.g. https://127.0.0.1:41234 */
  authorityHost: string;
  /** The issuer of its access tokens and its public signing keys, for the simulator to verify them. */
  issuer: string;
  jwks: JSONWebKeySet;
  /** Token requests answered (successfully or not). */
  tokenRequests: number;
  close(): Promise<void>;
}

export async function startTokenService(
  dir: string,
  client: { id: string; secret: string },
): Promise<TokenService> {
  const certs = makeCertificates(dir);
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), readFileSync(certs.ca, 'utf8')]);
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'entra-test-1', alg: 'RS256', use: 'sig' };
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = jwk;
  const server: Server = createServer({ key: readFileSync(certs.key), cert: readFileSync(certs.cert) });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const authorityHost = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const prefix = `/${TENANT}/v2.0`;
  const issuer = `${authorityHost}${prefix}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: client.id,
        client_secret: client.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    jwks: { keys: [jwk] as never },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => AZURE_AUDIENCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: `${AZURE_AUDIENCE}/.default`,
          audience: AZURE_AUDIENCE,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 3600,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    ttl: { ClientCredentials: 3600 },
  });
  const service: TokenService = {
    authorityHost,
    issuer,
    jwks: { keys: [publicJwk] },
    tokenRequests: 0,
    close: () => new Promise((r) => server.close(() => r())),
  };
  const handle = provider.callback();
  server.on('request', (req, res) => {
    if (req.method === 'POST' && req.url?.split('?')[0].endsWith('/token')) service.tokenRequests++;
    // Entra's paths carry the tenant; the provider answers below its issuer's path.
    if (req.url?.startsWith(prefix)) req.url = req.url.slice(prefix.length) || '/';
    handle(req, res);
  });
  return service;
}
