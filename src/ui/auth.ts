// Who may read the dashboard. Until sign-in roles exist, the holder of the admin token
// (`PORTCULLIS_ADMIN_TOKEN`): sent as `Authorization: Bearer …`, or typed once into /ui/login, which
// sets an HttpOnly session cookie derived from the token (never the token itself). Sign-in roles plug
// in as another `UiAuthorizer` (a viewer role), tried before the token.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface UiViewer {
  /** Shown in the page header; never a secret. */
  name: string;
}

/** Answers who the request is, or null; must not throw on malformed input. */
export type UiAuthorizer = (headers: IncomingHttpHeaders) => UiViewer | null | Promise<UiViewer | null>;

export const SESSION_COOKIE = 'portcullis_ui';

const equal = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export function sessionValue(adminToken: string): string {
  return createHmac('sha256', adminToken).update('portcullis-ui-session-v1').digest('base64url');
}

export function cookieOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  for (const part of (headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function adminTokenAuthorizer(adminToken: string): UiAuthorizer {
  const session = sessionValue(adminToken);
  return (headers) => {
    const auth = headers.authorization;
    if (typeof auth === 'string' && auth.startsWith('Bearer ') && equal(auth.slice(7), adminToken)) {
      return { name: 'admin' };
    }
    const cookie = cookieOf(headers, SESSION_COOKIE);
    return cookie !== undefined && equal(cookie, session) ? { name: 'admin' } : null;
  };
}

/** Tries each authorizer in order; the first viewer wins. */
export function anyOf(...authorizers: UiAuthorizer[]): UiAuthorizer {
  return async (headers) => {
    for (const a of authorizers) {
      const v = await a(headers);
      if (v) return v;
    }
    return null;
  };
}
