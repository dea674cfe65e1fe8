// Virtual-key authentication for MCP requests: the same lookup as the inference surfaces
// (src/gateway/authenticate.ts), with the key from `Authorization: Bearer` or `x-api-key`.
import type { IncomingHttpHeaders } from 'node:http';
import { type AuthResult, authenticate, presentedKey } from '../gateway/authenticate.ts';

export type McpAuthResult = AuthResult;

export type McpAuthenticate = typeof authenticate;

export function presentedMcpKey(headers: IncomingHttpHeaders): string | undefined {
  return presentedKey(headers, undefined);
}

export const authenticateMcpKey: McpAuthenticate = authenticate;
