// The request pipeline of an inference call:
// authenticate → facts → reserve → request guardrails → decide → before forward → forward →
// response guardrails → usage → settle → audit.
// Nothing is forwarded without an allowing decision from the snapshot the request started with.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Decision, DecisionInput } from '../policy/decision.ts';
import type { ResolvedProvider, Snapshot } from '../policy/snapshot.ts';
import { adapters } from '../providers/index.ts';
import { costUsd, priceFor } from '../providers/pricing.ts';
import { trailingObject } from '../providers/tail.ts';
import {
  emptyUsage,
  isObject,
  type PathFacts,
  type RequestFacts,
  type TokenUsage,
} from '../providers/types.ts';
import { declaredTools, stripTools, TOOLS_STRIPPED_HEADER } from '../tools/index.ts';
import { authenticate, keyFacts, presentedKey } from './auth.ts';
import { type PipelineHooks, RequestContext } from './context.ts';
import { DecisionBatcher } from './decision-batch.ts';
import { sendDenial, sendError } from './errors.ts';
import { forward } from './forward.ts';
import { listModels } from './models.ts';
import { parseGeminiTarget, type RouteSpec } from './routes.ts';
import type { Upstreams } from './upstream.ts';
import type { UsageBus, UsageEvent } from './usage-events.ts';

const kCtx = Symbol('portcullis.ctx');
const kPipeline = Symbol('portcullis.pipeline');

interface TrackedResponse extends ServerResponse {
  [kCtx]?: RequestContext;
  [kPipeline]?: Pipeline;
}

const NO_PATH: PathFacts = {};
const NONE: string[] = [];
const SESSION_HEADERS = [
  'x-claude-code-session-id',
  'session-id',
  'session_id',
  'conversation_id',
  'x-session-id',
];

function header(headers: IncomingHttpHeaders, name: string, max: number): string | undefined {
  const v = headers[name];
  if (typeof v !== 'string' || v === '') return undefined;
  return v.length > max ? v.slice(0, max) : v;
}

function sessionOf(headers: IncomingHttpHeaders): string | undefined {
  for (const name of SESSION_HEADERS) {
    const v = header(headers, name, 128);
    if (v !== undefined) return v;
  }
  return undefined;
}

function queryKey(query: unknown): string | undefined {
  if (!isObject(query)) return undefined;
  const k = query.key;
  return typeof k === 'string' ? k : undefined;
}

/** The client's query string for upstream, minus any credential. */
function upstreamQuery(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return '';
  const qs = url.slice(q + 1);
  if (qs === '') return '';
  if (!/(?:^|&)(?:key|api[-_]?key)=/i.test(qs)) return `?${qs}`;
  const params = new URLSearchParams(qs);
  for (const name of [...params.keys()]) if (/^(?:key|api[-_]?key)$/i.test(name)) params.delete(name);
  const rest = params.toString();
  return rest === '' ? '' : `?${rest}`;
}

function parseBody(raw: unknown): Record<string, unknown> | null {
  if (!Buffer.isBuffer(raw) || raw.length === 0) return null;
  try {
    const v: unknown = JSON.parse(raw.toString('utf8'));
    return isObject(v) ? v : null;
  } catch {
    return null;
  }
}

/** Listing models names no model: attribute it to the first OpenAI-format provider the key may use. */
function listingProvider(
  snapshot: Snapshot,
  providers: readonly string[] | undefined,
): ResolvedProvider | undefined {
  let first: ResolvedProvider | undefined;
  for (const p of snapshot.providers.values()) {
    if (p.api !== 'openai') continue;
    if (providers === undefined || providers.length === 0 || providers.includes(p.id)) return p;
    first ??= p;
  }
  return first;
}

const POLICY_ERROR: Decision = {
  allow: false,
  status: 500,
  code: 'policy_error',
  reasons: ['The policy could not be evaluated, so the call was refused. Tell your platform team.'],
  redact: [],
  stripTools: [],
};

const AUTH_MESSAGES: Record<string, string> = {
  missing: 'No API key was sent. Set your client to use your Portcullis virtual key.',
  unknown: 'The API key is not a valid Portcullis virtual key.',
  expired: 'This Portcullis virtual key has expired.',
  disabled: 'This Portcullis virtual key has been disabled.',
};

export interface PipelineOptions {
  hooks: PipelineHooks;
  usage: UsageBus;
  upstreams: Upstreams;
  log: Logger;
}

export class Pipeline {
  readonly hooks: PipelineHooks;
  readonly usage: UsageBus;
  readonly upstreams: Upstreams;
  readonly log: Logger;

  constructor(opts: PipelineOptions) {
    this.hooks = opts.hooks;
    this.usage = opts.usage;
    this.upstreams = opts.upstreams;
    this.log = opts.log;
  }

  readonly #decisions = new DecisionBatcher();
  /** Calls between their start and the end of their response. */
  #active = 0;
  readonly #inFlight = (): number => this.#active;

  /** Settle/audit hooks still running for calls that already ended. */
  readonly #after = new Set<Promise<void>>();

  /** Resolves once the settle/audit hooks of every call that ended so far have run (for shutdown). */
  async drain(): Promise<void> {
    while (this.#after.size > 0) await Promise.allSettled([...this.#after]);
  }

  async handle(route: RouteSpec, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const snapshot = request.snapshot;
    if (snapshot === null) {
      return sendError(
        reply,
        route.api,
        503,
        'Portcullis is starting: no policy is active yet. Retry shortly.',
        'not_ready',
      );
    }
    let surface = route.surface;
    let path = NO_PATH;
    let upstreamPath = route.upstreamPath;
    if (route.gemini !== undefined) {
      const target = parseGeminiTarget((request.params as { modelAction: string }).modelAction);
      if (target === null) {
        return sendError(
          reply,
          'gemini',
          404,
          'Portcullis does not serve this Gemini method or model name.',
          'not_found',
        );
      }
      surface = target.surface;
      path = { model: target.model, stream: target.stream };
      upstreamPath = `/${route.gemini.version}/models/${target.model}:${target.action}`;
    }
    const adapter = adapters[route.api];
    const ctx = new RequestContext(request.id, snapshot, surface, route.api, adapter);
    const res = reply.raw as TrackedResponse;
    res[kCtx] = ctx;
    res[kPipeline] = this;
    res.once('close', onResponseClose);
    this.#active++;

    // Authenticate.
    const headers = request.headers;
    const auth = authenticate(
      snapshot,
      presentedKey(headers, route.api === 'gemini' ? queryKey(request.query) : undefined),
      ctx.startedAt,
    );
    ctx.key = auth.key;
    const enforced = snapshot.gateway.enforceAuthOnInference;
    const refused = auth.status !== 'ok' && (enforced || auth.status !== 'missing');

    // Facts.
    let facts: RequestFacts;
    let tools: string[] = [];
    let bodyBytes = 0;
    if (route.method === 'POST') {
      const raw = request.body as Buffer | undefined;
      const body = parseBody(raw);
      if (body === null) {
        ctx.outcome = 'error';
        if (refused)
          return sendError(
            reply,
            route.api,
            401,
            `Portcullis: ${AUTH_MESSAGES[auth.status]}`,
            `key_${auth.status}`,
          );
        return sendError(
          reply,
          route.api,
          400,
          'Portcullis: the request body is not a JSON object.',
          'invalid_json',
        );
      }
      ctx.rawBody = raw as Buffer;
      ctx.body = body;
      bodyBytes = ctx.rawBody.length;
      facts = adapter.requestFacts(surface, body, path);
      tools = declaredTools(surface, body);
    } else {
      const model = (request.params as { model?: string }).model ?? '';
      facts = { model, stream: false, maxOutputTokens: 0 };
    }
    const provider =
      route.local !== undefined
        ? listingProvider(snapshot, auth.key?.providers)
        : facts.model === ''
          ? undefined
          : snapshot.providerFor(route.api, facts.model);
    ctx.provider = provider;
    ctx.price =
      provider !== undefined && route.local === undefined ? priceFor(provider, facts.model) : undefined;
    const input: DecisionInput = {
      surface,
      provider: provider?.id ?? '',
      model: facts.model,
      pricedModel: ctx.price?.id,
      stream: facts.stream,
      tools,
      sizes: {
        bodyBytes,
        estimatedInputTokens: Math.ceil(bodyBytes / 4),
        maxOutputTokens: facts.maxOutputTokens ?? ctx.price?.maxOutputTokens ?? 0,
      },
      auth: { status: auth.status, enforced },
      key: auth.key === null ? null : keyFacts(auth.key),
      session: sessionOf(headers),
      userAgent: header(headers, 'user-agent', 256),
      usage: { budgets: [], rateLimits: [] },
      guardrails: { findings: [] },
      nowNs: ctx.startedAt * 1_000_000,
    };
    ctx.input = input;

    // Reserve, request guardrails (hooks).
    const hooks = this.hooks;
    // Hooks answer synchronously where they can; awaiting only a real promise saves a turn each.
    if (hooks.reserve !== undefined) {
      const pending = hooks.reserve(ctx);
      if (pending !== undefined) await pending;
    }
    if (ctx.decision === null && hooks.requestGuardrails !== undefined) {
      const pending = hooks.requestGuardrails(ctx);
      if (pending !== undefined) await pending;
    }

    // Decide.
    let decision = ctx.decision;
    if (decision === null) {
      try {
        // Alone, a call is decided at once; with others in flight, with those of this turn.
        decision =
          this.#active > 1 ? await this.#decisions.decide(snapshot, input) : snapshot.evaluate(input);
      } catch (err) {
        this.log.error({ reqId: ctx.id, err: (err as Error).message }, 'policy evaluation failed');
        decision = POLICY_ERROR;
      }
      // Defence in depth: a bad key is refused whatever the policy says.
      if (decision.allow && refused) {
        decision = {
          allow: false,
          status: 401,
          code: `key_${auth.status}`,
          reasons: [AUTH_MESSAGES[auth.status]],
          redact: [],
          stripTools: [],
        };
      }
      ctx.decision = decision;
    }
    ctx.timings.decided = ctx.elapsed();
    if (!decision.allow) {
      ctx.outcome = 'denied';
      return sendDenial(reply, route.api, decision, snapshot.revision);
    }

    if (route.local !== undefined) return this.#answerModels(ctx, route, reply, facts.model);

    let target = provider;
    if (decision.route !== undefined && decision.route !== '' && decision.route !== provider?.id) {
      target = snapshot.providers.get(decision.route);
      if (target === undefined || target.api !== route.api) {
        ctx.outcome = 'error';
        return sendError(
          reply,
          route.api,
          500,
          `Portcullis: the policy routes this call to provider ${decision.route}, which does not serve the ${route.api} API.`,
          'bad_route',
        );
      }
      ctx.provider = target;
      ctx.price = priceFor(target, facts.model) ?? ctx.price;
    }
    if (target === undefined) {
      ctx.outcome = 'error';
      return sendError(
        reply,
        route.api,
        404,
        `Portcullis: no provider configured on this gateway serves model ${facts.model || '(none given)'}.`,
        'model_not_found',
      );
    }

    const stripped =
      decision.stripTools.length > 0 ? decision.stripTools.filter((t) => tools.includes(t)) : NONE;
    if (stripped.length > 0) {
      ctx.body = stripTools(surface, ctx.body, stripped);
      ctx.bodyChanged = true;
      reply.header(TOOLS_STRIPPED_HEADER, stripped.join(','));
    }
    const body = ctx.body as Record<string, unknown>;
    if (adapter.requestUsageReporting(surface, body)) {
      ctx.hideUsageChunk = true;
      ctx.bodyChanged = true;
    }
    if (hooks.beforeForward !== undefined) {
      const pending = hooks.beforeForward(ctx);
      if (pending !== undefined) await pending;
    }
    const extra = ctx.responseHeaders;
    for (const name in extra) reply.header(name, extra[name]);

    const up = this.upstreams.get(snapshot, target);
    if (up.error !== null) {
      ctx.outcome = 'error';
      ctx.upstreamError = 'upstream_unconfigured';
      this.log.error({ reqId: ctx.id, provider: target.id, reason: up.error }, 'provider not callable');
      return sendError(reply, route.api, 502, `Portcullis cannot call ${up.error}.`, 'upstream_unconfigured');
    }
    ctx.upstreamPath = up.basePath + upstreamPath + upstreamQuery(request.url);
    ctx.outcome = 'forwarded';
    if (!ctx.aborted) forward(ctx, headers, reply, up, hooks.responseGuardrails, this.log, this.#inFlight);
    return reply;
  }

  #answerModels(ctx: RequestContext, route: RouteSpec, reply: FastifyReply, model: string): FastifyReply {
    ctx.outcome = 'answered';
    const models = listModels(ctx.snapshot, ctx.key);
    if (route.local === 'models') return reply.send({ object: 'list', data: models });
    const found = models.find((m) => m.id === model);
    if (found !== undefined) return reply.send(found);
    ctx.outcome = 'error';
    return sendError(
      reply,
      'openai',
      404,
      `Portcullis: model ${model} is not available to this key.`,
      'model_not_found',
    );
  }

  /** The response is over (sent, failed or abandoned by the client). */
  finish(ctx: RequestContext, statusCode: number): void {
    this.#active--;
    if (ctx.status === 0) ctx.status = statusCode;
    if (ctx.outcome === 'forwarded' || ctx.upstreamError !== null) {
      const event = this.#usageEvent(ctx);
      ctx.usage = event;
      this.usage.publish(event);
    }
    if (this.log.isLevelEnabled('info')) {
      this.log.info(
        {
          reqId: ctx.id,
          surface: ctx.surface,
          model: ctx.input?.model,
          key: ctx.key?.id,
          status: ctx.status,
          outcome: ctx.outcome,
          code: ctx.decision?.code,
          aborted: ctx.aborted || undefined,
          ms: Math.round(ctx.timings.end * 1000) / 1000,
        },
        'call',
      );
    }
    const hooks = this.hooks;
    // Calls refused before their facts were known (no snapshot, unreadable body) reserved nothing.
    if (ctx.input !== undefined && (hooks.settle !== undefined || hooks.audit !== undefined)) {
      const done = this.#runAfter(ctx).catch((err: unknown) => {
        this.log.error({ reqId: ctx.id, err: (err as Error).message }, 'settle/audit hook failed');
      });
      this.#after.add(done);
      done.finally(() => this.#after.delete(done));
    }
  }

  async #runAfter(ctx: RequestContext): Promise<void> {
    if (this.hooks.settle !== undefined) await this.hooks.settle(ctx);
    if (this.hooks.audit !== undefined) await this.hooks.audit(ctx);
  }

  #tokens(ctx: RequestContext): { usage: TokenUsage; estimated: boolean } {
    const tracker = ctx.tracker;
    if (tracker !== null) return { usage: tracker.usage(), estimated: tracker.estimated() };
    // What the provider billed: a response the guardrails replaced (e.g. a 400 for a leaked
    // credential) still consumed the upstream's tokens.
    if ((ctx.upstreamStatus || ctx.status) >= 300) return { usage: emptyUsage(), estimated: false };
    let usage: TokenUsage | null = null;
    if (ctx.upstreamJson !== undefined) {
      usage = ctx.adapter.usageFromJson(ctx.surface, ctx.upstreamJson);
    } else if (ctx.tail !== null && ctx.tail !== '') {
      const key = ctx.adapter.usageKey;
      const obj = trailingObject(ctx.tail, key);
      if (obj !== undefined) usage = ctx.adapter.usageFromJson(ctx.surface, { [key]: obj });
    }
    return { usage: usage ?? emptyUsage(), estimated: false };
  }

  #usageEvent(ctx: RequestContext): UsageEvent {
    const { usage, estimated } = this.#tokens(ctx);
    const t = ctx.timings;
    const key = ctx.key;
    return {
      requestId: ctx.id,
      time: new Date(ctx.startedAt).toISOString(),
      revision: ctx.snapshot.revision,
      keyId: key?.id ?? null,
      owner: key?.owner ?? null,
      team: key?.team ?? null,
      session: ctx.input.session ?? null,
      surface: ctx.surface,
      provider: ctx.provider?.id ?? '',
      model: ctx.input.model,
      pricedModel: ctx.price?.id ?? null,
      stream: ctx.input.stream,
      status: ctx.status,
      inputTokens: usage.inputTokens,
      cachedInputTokens: usage.cachedInputTokens,
      cacheWriteTokens: usage.cacheWriteTokens,
      outputTokens: usage.outputTokens,
      costUsd: costUsd(ctx.price, usage),
      estimated,
      aborted: ctx.aborted,
      latency: {
        totalMs: t.end,
        upstreamMs: t.upstreamHeaders > 0 ? t.upstreamHeaders - t.forwarded : 0,
        gatewayMs: t.forwarded > 0 ? t.forwarded : t.end,
      },
    };
  }
}

function onResponseClose(this: TrackedResponse): void {
  const ctx = this[kCtx];
  const pipeline = this[kPipeline];
  if (ctx === undefined || pipeline === undefined) return;
  ctx.timings.end = ctx.elapsed();
  if (!this.writableFinished) {
    ctx.aborted = true;
    ctx.upstream?.cancel();
  }
  pipeline.finish(ctx, this.statusCode);
}
