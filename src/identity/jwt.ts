// Checks tokens the identity provider signed (ID tokens at key issuance, access tokens where the
// policy accepts them directly) with jose: signature against the issuer's JWKS (found by OIDC
// discovery, refetched when a token names a key it does not know, so rotation needs no restart),
// issuer, audience, expiry, and asymmetric algorithms only (`alg: none` and HMAC are refused).
import { createRemoteJWKSet, decodeJwt, errors, type JWTPayload, jwtVerify } from 'jose';
import { claimValue, groupsFromClaim, type IdentityConfig, type IdpConfig, idpForIssuer } from './config.ts';

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** Tolerated clock difference with the IdP. */
const CLOCK_TOLERANCE_S = 30;

export interface VerifiedPerson {
  idp: IdpConfig;
  subject: string;
  email?: string;
  groups: string[];
  /** Epoch ms the token expires. */
  expiresAt: number;
  claims: JWTPayload;
}

export class TokenError extends Error {
  /** `invalid` (bad token), `idp_unavailable` (could not reach the IdP to check it). */
  readonly kind: 'invalid' | 'idp_unavailable';
  constructor(kind: 'invalid' | 'idp_unavailable', message: string) {
    super(message);
    this.kind = kind;
  }
}

/** A string that has the shape of a compact JWS (three base64url parts, a JSON header). */
export function looksLikeJwt(text: string): boolean {
  return text.startsWith('eyJ') && text.split('.').length === 3;
}

interface IssuerKeys {
  jwks: ReturnType<typeof createRemoteJWKSet>;
  /** The issuer exactly as discovery states it (tokens must carry this `iss`). */
  issuer: string;
}

export class TokenVerifier {
  readonly #issuers = new Map<string, Promise<IssuerKeys>>();
  readonly #timeoutMs: number;
  readonly #cooldownMs: number;

  /**
   * `cooldownMs`: after a JWKS fetch, how long a token naming an unknown key is refused without
   * fetching again (`PORTCULLIS_JWKS_COOLDOWN_MS`, default 30 s): rotation is picked up, floods are not.
   */
  constructor(options: { timeoutMs?: number; cooldownMs?: number } = {}) {
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#cooldownMs = options.cooldownMs ?? (Number(process.env.PORTCULLIS_JWKS_COOLDOWN_MS) || 30_000);
  }

  /** OIDC discovery then the JWKS; cached per issuer, retried after a failure. */
  #keysFor(idp: IdpConfig): Promise<IssuerKeys> {
    let found = this.#issuers.get(idp.issuer);
    if (found === undefined) {
      found = (async () => {
        const url = `${idp.issuer}/.well-known/openid-configuration`;
        let meta: { issuer?: string; jwks_uri?: string };
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(this.#timeoutMs) });
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          meta = (await res.json()) as typeof meta;
        } catch (err) {
          throw new TokenError(
            'idp_unavailable',
            `cannot read ${url} to check the token: ${(err as Error).message}`,
          );
        }
        if (typeof meta.jwks_uri !== 'string') {
          throw new TokenError('idp_unavailable', `${url} names no jwks_uri`);
        }
        return {
          issuer: meta.issuer ?? idp.issuer,
          jwks: createRemoteJWKSet(new URL(meta.jwks_uri), {
            timeoutDuration: this.#timeoutMs,
            cooldownDuration: this.#cooldownMs,
            cacheMaxAge: 600_000,
          }),
        };
      })();
      this.#issuers.set(idp.issuer, found);
      found.catch(() => this.#issuers.delete(idp.issuer));
    }
    return found;
  }

  /**
   * Verifies `token` against the policy's identity providers. `audiences` narrows what `aud` may be
   * (default: the provider's audience and its client id).
   */
  async verify(
    token: string,
    config: IdentityConfig,
    pick: (idp: IdpConfig) => string[] = (idp) => idp.audiences,
  ): Promise<VerifiedPerson> {
    let iss: string | undefined;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      throw new TokenError('invalid', 'not a JWT');
    }
    const idp = iss === undefined ? undefined : idpForIssuer(config, iss);
    if (idp === undefined) {
      throw new TokenError(
        'invalid',
        `issuer ${JSON.stringify(iss ?? null)} is not an IdentityProvider of this gateway`,
      );
    }
    const keys = await this.#keysFor(idp);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys.jwks, {
        issuer: keys.issuer,
        audience: pick(idp),
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp', 'iss', 'aud'],
      }));
    } catch (err) {
      if (err instanceof errors.JWKSTimeout || (err instanceof TypeError && /fetch/i.test(err.message))) {
        throw new TokenError('idp_unavailable', `cannot fetch the signing keys of ${idp.issuer}`);
      }
      throw new TokenError('invalid', describeJoseError(err));
    }
    const subject = claimValue(payload, idp.claims.subject);
    if (typeof subject !== 'string' || subject === '') {
      throw new TokenError('invalid', `the token has no '${idp.claims.subject}' claim naming the user`);
    }
    const email = claimValue(payload, idp.claims.email);
    return {
      idp,
      subject,
      email: typeof email === 'string' ? email : undefined,
      groups: groupsFromClaim(claimValue(payload, idp.claims.groups)),
      expiresAt: (payload.exp as number) * 1000,
      claims: payload,
    };
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired';
  if (err instanceof errors.JWTClaimValidationFailed)
    return `the token's ${err.claim} claim is not accepted here`;
  if (err instanceof errors.JOSEAlgNotAllowed)
    return 'the token is signed with an algorithm this gateway refuses';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not verify';
  if (err instanceof errors.JWKSNoMatchingKey)
    return 'the token is signed with a key the issuer does not publish';
  if (err instanceof errors.JOSEError) return `the token is not valid (${err.code})`;
  return 'the token is not valid';
}
