// The error catalogue: every error the gateway answers with itself — its code, status and message,
// each defined once — and the one writer that puts it in the caller's own wire format. Refusals the
// policy words (a `Decision`) go through the same writer. A new error is one entry here.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { AuthStatus, Decision } from '../policy/decision.ts';
import type { ProviderApi } from '../policy/snapshot.ts';
import { adapters } from '../providers/index.ts';

const AUTH_REASONS: Record<Exclude<AuthStatus, 'ok'>, string> = {
  missing: 'No API key was sent. Set your client to use your Portcullis virtual key.',
  unknown: 'The API key is not a valid Portcullis virtual key.',
  expired: 'This Portcullis virtual key has expired.',
  disabled: 'This Portcullis virtual key has been disabled.',
};

export const GUARDRAIL_BLOCKED = 'guardrail_blocked';

/** Every error the gateway writes itself: status and message (with the facts it names). */
export const ERRORS = {
  not_ready: {
    status: 503,
    message: () => 'Portcullis is starting: no policy is active yet. Retry shortly.',
  },
  not_found: {
    status: 404,
    message: (what: string) => `Portcullis does not serve ${what}.`,
  },
  key_missing: { status: 401, message: () => `Portcullis: ${AUTH_REASONS.missing}` },
  key_unknown: { status: 401, message: () => `Portcullis: ${AUTH_REASONS.unknown}` },
  key_expired: { status: 401, message: () => `Portcullis: ${AUTH_REASONS.expired}` },
  key_disabled: { status: 401, message: () => `Portcullis: ${AUTH_REASONS.disabled}` },
  invalid_json: { status: 400, message: () => 'Portcullis: the request body is not a JSON object.' },
  request_too_large: {
    status: 413,
    message: (max: number) =>
      `Portcullis: the request body is larger than this gateway accepts (${max} bytes).`,
  },
  unsupported_media_type: { status: 415, message: () => 'Portcullis: send the request body as JSON.' },
  unsupported_encoding: {
    status: 415,
    message: (encoding: string) =>
      `Portcullis: request bodies with content-encoding ${encoding} are not accepted; send the body uncompressed.`,
  },
  headers_too_large: {
    status: 431,
    message: () => 'Portcullis: the request headers are larger than this gateway accepts.',
  },
  request_timeout: {
    status: 408,
    message: () => 'Portcullis: the request (headers and body) did not arrive in time.',
  },
  too_deep: {
    status: 400,
    message: () => 'Portcullis: the request body nests deeper than the gateway can process.',
  },
  bad_request: {
    status: 400,
    message: (detail: string) => `Portcullis could not read the request: ${detail}`,
  },
  internal_error: {
    status: 500,
    message: (requestId: string) => `Portcullis: internal error (request ${requestId}).`,
  },
  bad_route: {
    status: 500,
    message: (provider: string, api: string) =>
      `Portcullis: the policy routes this call to provider ${provider}, which does not serve the ${api} API.`,
  },
  model_not_found: {
    status: 404,
    /** `listed`: asked of the gateway's model listing, which shows the models the key may use. */
    message: (model: string, listed: boolean) =>
      listed
        ? `Portcullis: model ${model} is not available to this key.`
        : `Portcullis: no provider configured on this gateway serves model ${model || '(none given)'}.`,
  },
  route_unavailable: {
    status: 503,
    message: (route: string) =>
      `Portcullis: none of the targets of route ${route} that this key may use can take the call now. Retry shortly.`,
  },
  untranslatable: {
    status: 400,
    message: (detail: string) =>
      `Portcullis cannot carry this request to the model that serves it: ${detail}.`,
  },
  upstream_unconfigured: {
    status: 502,
    message: (reason: string) => `Portcullis cannot call ${reason}.`,
  },
  upstream_timeout: {
    status: 504,
    message: (provider: string, requestId: string) =>
      `Portcullis: provider ${provider} did not answer in time. Try again; if it persists, tell your platform team (request ${requestId}).`,
  },
  upstream_unreachable: {
    status: 502,
    message: (provider: string, requestId: string, cause: string) =>
      `Portcullis: provider ${provider} could not be reached (${cause}). Try again; if it persists, tell your platform team (request ${requestId}).`,
  },
} as const satisfies Record<string, { status: number; message: (...args: never[]) => string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error to answer with: from the catalogue, or a refusal the policy worded. */
export interface GatewayError {
  status: number;
  /** The machine-readable code (the catalogue's key, or the decision's code). */
  code: string;
  message: string;
  headers?: Record<string, string>;
}

/** The catalogue's error `code`, with the facts its message names. */
export function gatewayError<C extends ErrorCode>(
  code: C,
  ...args: Parameters<(typeof ERRORS)[C]['message']>
): GatewayError {
  const spec = ERRORS[code];
  return { status: spec.status, code, message: (spec.message as (...a: unknown[]) => string)(...args) };
}

// ── Refusals (decisions the gateway makes without the policy, or on top of it) ──

/** A denying decision: what the gateway refuses with when the policy is not (or cannot be) asked. */
export function refusal(status: number, code: string, reason: string, retryAfterSeconds?: number): Decision {
  const d: Decision = { allow: false, status, code, reasons: [reason], redact: [], stripTools: [] };
  if (retryAfterSeconds !== undefined) d.retryAfterSeconds = retryAfterSeconds;
  return d;
}

export const POLICY_ERROR: Decision = refusal(
  500,
  'policy_error',
  'The policy could not be evaluated, so the call was refused. Tell your platform team.',
);

export const LIMITS_UNAVAILABLE: Decision = refusal(
  503,
  'limits_unavailable',
  'The budget store is unavailable, so Portcullis cannot check budgets and refused the call. Retry shortly; if it persists, tell your platform team.',
  5,
);

/** Defence in depth: a key that did not authenticate is refused whatever the policy says. */
export function authRefusal(status: Exclude<AuthStatus, 'ok'>): Decision {
  return refusal(401, `key_${status}`, AUTH_REASONS[status]);
}

export function shortRevision(revision: string): string {
  const r = revision.startsWith('sha256:') ? revision.slice(7) : revision;
  return r.slice(0, 12);
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

/**
 * The longest wait sent as `retry-after`. Clients take the header literally and retry after it, up
 * to five times (Codex 0.171 sleeps the whole wait, even a budget's ~80,000 s, showing only
 * "Reconnecting… 1/5"). A short wait is worth a quick retry; a longer one is only in the message, so
 * the agent shows the refusal within seconds.
 */
export const MAX_RETRY_AFTER_SECONDS = 10;

/**
 * A denying decision as the error the caller gets (status, `retry-after`, `x-portcullis-decision`).
 * A refusal that retrying soon cannot fix (a spent budget, a wait past MAX_RETRY_AFTER_SECONDS)
 * carries no `retry-after` and `x-should-retry: false`, which the OpenAI and Anthropic SDKs obey,
 * so the agent shows the reason at once, or after its own few quick retries (Codex: about 7 s).
 */
export function denialError(decision: Decision, revision: string): GatewayError {
  const status = decision.status >= 400 && decision.status < 600 ? decision.status : 403;
  const headers: Record<string, string> = { 'x-portcullis-decision': decision.code };
  const wait = decision.retryAfterSeconds;
  if (status !== 402 && wait !== undefined && wait > 0 && wait <= MAX_RETRY_AFTER_SECONDS) {
    headers['retry-after'] = String(Math.ceil(wait));
  } else if (status === 402 || status === 429) {
    headers['x-should-retry'] = 'false';
  }
  return { status, code: decision.code, message: denialMessage(decision, revision), headers };
}

// ── The writer ──

/** The error's body in the API's own format. */
export function errorPayload(api: ProviderApi, err: GatewayError): string {
  return JSON.stringify(adapters[api].errorBody(err.status, err.message, err.code));
}

/**
 * The HTTP status an error goes out with on `api`. OpenAI reports a spent quota as 429 with type
 * `insufficient_quota`, and its clients treat exactly that as final: Codex shows "Quota exceeded" at
 * once (it retries a 402 five times, ~9 s, before showing it), the OpenAI SDK raises it. So a budget
 * refusal (402) goes out that way there; the body keeps the 402's type and the policy's code.
 */
export function wireStatus(api: ProviderApi, status: number): number {
  return api === 'openai' && status === 402 ? 429 : status;
}

/** Answers through fastify (before forwarding started). */
export function sendError(reply: FastifyReply, api: ProviderApi, err: GatewayError): FastifyReply {
  if (err.headers !== undefined) for (const name in err.headers) reply.header(name, err.headers[name]);
  return reply
    .code(wireStatus(api, err.status))
    .header('content-type', 'application/json; charset=utf-8')
    .send(errorPayload(api, err));
}

/** Answers straight on the socket (the reply is hijacked once forwarding starts). */
export function writeError(
  res: ServerResponse,
  head: OutgoingHttpHeaders,
  api: ProviderApi,
  err: GatewayError,
): void {
  const body = errorPayload(api, err);
  head['content-type'] = 'application/json; charset=utf-8';
  head['content-length'] = Buffer.byteLength(body);
  res.writeHead(wireStatus(api, err.status), head);
  res.end(body);
}
