// Virtual-key authentication for MCP requests: the key from `Authorization: Bearer` or `x-api-key`,
// hashed with SHA-256 and looked up in the snapshot. The signature matches the HTTP gateway's own
// authenticate(), so the integrator may pass that one instead.
import { hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthStatus } from '../policy/decision.ts';
import type { ResolvedKey, Snapshot } from '../policy/snapshot.ts';

export interface McpAuthResult {
  status: AuthStatus;
  key: ResolvedKey | null;
}

export type McpAuthenticate = (
  snapshot: Snapshot,
  presented: string | undefined,
  nowMs: number,
) => McpAuthResult;

export function presentedMcpKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey !== '' ? apiKey : undefined;
}

export const authenticateMcpKey: McpAuthenticate = (snapshot, presented, nowMs) => {
  if (presented === undefined) return { status: 'missing', key: null };
  const digest = hash('sha256', presented, 'hex');
  const key = snapshot.keysByHash.get(digest);
  if (key === undefined) return { status: 'unknown', key: null };
  if (key.disabled) return { status: 'disabled', key };
  if (key.expiresAt !== undefined && key.expiresAt <= nowMs) return { status: 'expired', key };
  return { status: 'ok', key };
};
