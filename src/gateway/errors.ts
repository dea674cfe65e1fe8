// Errors in the caller's own API format, worded for the person reading them in their agent.
import type { FastifyReply } from 'fastify';
import type { Decision } from '../policy/decision.ts';
import type { ProviderApi } from '../policy/snapshot.ts';
import { adapters } from '../providers/index.ts';

export function sendError(
  reply: FastifyReply,
  api: ProviderApi,
  status: number,
  message: string,
  code: string,
): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify(adapters[api].errorBody(status, message, code)));
}

/** "Portcullis denied this request: <reasons> (policy <rev>, <code>)." */
export function denialMessage(decision: Decision, revision: string): string {
  const reasons =
    decision.reasons.length > 0 ? decision.reasons.join(' ') : 'The policy does not allow this call.';
  const retry =
    decision.retryAfterSeconds !== undefined && decision.retryAfterSeconds > 0
      ? ` Retry after ${decision.retryAfterSeconds} s.`
      : '';
  return `Portcullis denied this request: ${reasons}${retry} [${decision.code}; policy ${shortRevision(revision)}]`;
}

export function shortRevision(revision: string): string {
  const r = revision.startsWith('sha256:') ? revision.slice(7) : revision;
  return r.slice(0, 12);
}

export function sendDenial(
  reply: FastifyReply,
  api: ProviderApi,
  decision: Decision,
  revision: string,
): FastifyReply {
  const status = decision.status >= 400 && decision.status < 600 ? decision.status : 403;
  if (decision.retryAfterSeconds !== undefined && decision.retryAfterSeconds > 0) {
    reply.header('retry-after', String(Math.ceil(decision.retryAfterSeconds)));
  }
  reply.header('x-portcullis-decision', decision.code);
  return sendError(reply, api, status, denialMessage(decision, revision), decision.code);
}
