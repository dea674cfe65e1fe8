// The call pipeline of an inference call, in stages:
//   authenticate → facts → route → reserve → inspect → decide → rewrite → forward → respond
//   → settle → audit.
// Plugins (plugin.ts) return what they find; this file alone decides and applies. Nothing is forwarded
// without an allowing decision from the snapshot the call started with.
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Decision, DecisionInput } from '../policy/decision.ts';
import type { ResolvedProvider, Snapshot } from '../policy/snapshot.ts';
import { adapters } from '../providers/index.ts';
import { priceFor } from '../providers/pricing.ts';
import type { PathFacts, RequestFacts } from '../providers/types.ts';
import { declaredTools, stripTools, TOOLS_STRIPPED_HEADER } from '../tools/index.ts';
import { type Authenticator, type AuthResult, virtualKeys } from './authenticate.ts';
import { Call } from './call.ts';
import { DecisionBatcher } from './decision-batch.ts';
import { decisionInput, estimatedInputTokens } from './decision-input.ts';
import {
  authRefusal,
  denialError,
  type GatewayError,
  gatewayError,
  POLICY_ERROR,
  sendError,
} from './errors.ts';
import { chainFilters } from './filters.ts';
import { forward } from './forward.ts';
import { listModels } from './models.ts';
import { callRecord } from './outcome.ts';
import type { Inspection, MaybePromise, Plugin, Refusal, Reserved, ResponseFilter, Stage } from './plugin.ts';
import { parseBody, queryKey, sessionOf, upstreamQuery, userAgentOf } from './request-facts.ts';
import { parseGeminiTarget, type RouteSpec } from './routes.ts';
import type { Upstreams } from './upstream.ts';
import { usageOf } from './usage.ts';

const kCall = Symbol('portcullis.call');
const kPipeline = Symbol('portcullis.pipeline');

interface TrackedResponse extends ServerResponse {
  [kCall]?: Call;
  [kPipeline]?: Pipeline;
}

const NO_PATH: PathFacts = {};
const NONE: readonly string[] = [];

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

export interface PipelineOptions {
  /** In order: their filters chain in this order, their audits run in this order. */
  plugins: readonly Plugin[];
  /** Tried in order before the virtual-key lookup, which always answers. */
  authenticators?: readonly Authenticator[];
  upstreams: Upstreams;
  log: Logger;
}

/** Plugins that implement a stage, found once so a call never asks a plugin that has nothing to say. */
function having<K extends keyof Plugin>(plugins: readonly Plugin[], stage: K): Plugin[] {
  return plugins.filter((p) => p[stage] !== undefined);
}

export class Pipeline {
  readonly plugins: readonly Plugin[];
  readonly upstreams: Upstreams;
  readonly log: Logger;
  readonly #authenticators: readonly Authenticator[];
  readonly #reserve: Plugin[];
  readonly #inspect: Plugin[];
  readonly #rewrite: Plugin[];
  readonly #respond: Plugin[];
  readonly #audit: Plugin[];
  readonly #observe: Plugin[];
  readonly #decisions = new DecisionBatcher();
  /** Calls between their start and the end of their response. */
  #active = 0;
  readonly #inFlight = (): number => this.#active;
  /** Settle/audit work still running for calls that already ended. */
  readonly #after = new Set<Promise<void>>();

  constructor(opts: PipelineOptions) {
    this.plugins = opts.plugins;
    this.upstreams = opts.upstreams;
    this.log = opts.log;
    this.#authenticators = [...(opts.authenticators ?? []), virtualKeys];
    this.#reserve = having(opts.plugins, 'reserve');
    this.#inspect = having(opts.plugins, 'inspect');
    this.#rewrite = having(opts.plugins, 'rewrite');
    this.#respond = having(opts.plugins, 'respond');
    this.#audit = having(opts.plugins, 'audit');
    this.#observe = having(opts.plugins, 'observe');
  }

  /** Resolves once the settle/audit work of every call that ended so far has run (for shutdown). */
  async drain(): Promise<void> {
    while (this.#after.size > 0) await Promise.allSettled([...this.#after]);
  }

  async handle(route: RouteSpec, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const snapshot = request.snapshot;
    if (snapshot === null) return sendError(reply, route.api, gatewayError('not_ready'));
    let surface = route.surface;
    let path = NO_PATH;
    let upstreamPath = route.upstreamPath;
    if (route.gemini !== undefined) {
      const target = parseGeminiTarget((request.params as { modelAction: string }).modelAction);
      if (target === null) {
        return sendError(reply, 'gemini', gatewayError('not_found', 'this Gemini method or model name'));
      }
      surface = target.surface;
      path = { model: target.model, stream: target.stream };
      upstreamPath = `/${route.gemini.version}/models/${target.model}:${target.action}`;
    }
    const call = new Call(request.id, snapshot, surface, route.api, adapters[route.api]);
    const res = reply.raw as TrackedResponse;
    res[kCall] = call;
    res[kPipeline] = this;
    res.once('close', onResponseClose);
    this.#active++;

    // Authenticate.
    const headers = request.headers;
    const credentials = {
      headers,
      queryKey: route.api === 'gemini' ? queryKey(request.query) : undefined,
    };
    let auth = this.#authenticate(snapshot, credentials, call.startedAt);
    if (auth instanceof Promise) auth = await auth;
    call.auth = auth;
    const enforced = snapshot.gateway.enforceAuthOnInference;
    const refused = auth.status !== 'ok' && (enforced || auth.status !== 'missing');
    this.#observed(call, 'authenticate');

    // Facts.
    let facts: RequestFacts;
    let tools = NONE as string[];
    let bodyBytes = 0;
    if (route.method === 'POST') {
      const raw = request.body as Buffer | undefined;
      const body = parseBody(raw);
      if (body === null) {
        call.outcome = 'error';
        const err =
          refused && auth.status !== 'ok' ? gatewayError(`key_${auth.status}`) : gatewayError('invalid_json');
        return sendError(reply, route.api, err);
      }
      call.rawBody = raw as Buffer;
      call.body = body;
      bodyBytes = call.rawBody.length;
      facts = call.format.requestFacts(surface, body, path);
      tools = declaredTools(surface, body);
    } else {
      const model = (request.params as { model?: string }).model ?? '';
      facts = { model, stream: false, maxOutputTokens: 0 };
    }

    // Route: the provider serving the model (the decision may move it).
    const provider =
      route.local !== undefined
        ? listingProvider(snapshot, auth.key?.providers)
        : facts.model === ''
          ? undefined
          : snapshot.providerFor(route.api, facts.model);
    const price =
      provider !== undefined && route.local === undefined ? priceFor(provider, facts.model) : undefined;
    if (provider !== undefined) call.route = { provider, price };
    const input: DecisionInput = decisionInput({
      surface,
      provider: provider?.id,
      model: facts.model,
      pricedModel: price?.id,
      stream: facts.stream,
      tools,
      sizes: {
        bodyBytes,
        estimatedInputTokens: estimatedInputTokens(bodyBytes),
        maxOutputTokens: facts.maxOutputTokens ?? price?.maxOutputTokens ?? 0,
      },
      auth: { status: auth.status, enforced },
      key: auth.key,
      session: sessionOf(headers),
      userAgent: userAgentOf(headers),
      findings: call.findings,
      nowMs: call.startedAt,
    });
    call.input = input;
    this.#observed(call, 'facts');

    // Reserve, inspect.
    // Stages await only a real promise: a plugin that answers synchronously costs no turn.
    let refusal: Refusal | undefined;
    if (auth.status === 'ok' && this.#reserve.length > 0) {
      const r = this.#reserveStage(call);
      refusal = r instanceof Promise ? await r : r;
      this.#observed(call, 'reserve');
    }
    if (refusal === undefined && this.#inspect.length > 0) {
      const r = this.#inspectStage(call);
      refusal = r instanceof Promise ? await r : r;
      this.#observed(call, 'inspect');
    }

    // Decide.
    const decided = this.#decide(call, refusal, refused ? auth : undefined);
    const decision = decided instanceof Promise ? await decided : decided;
    call.decision = decision;
    call.timings.decided = call.elapsed();
    this.#observed(call, 'decide');
    if (!decision.allow) {
      call.outcome = 'denied';
      return sendError(reply, route.api, denialError(decision, snapshot.revision));
    }
    if (route.local !== undefined) return this.#answerModels(call, route, reply, facts.model);

    // The decision's route.
    if (decision.route !== undefined && decision.route !== '' && decision.route !== provider?.id) {
      const target = snapshot.providers.get(decision.route);
      if (target === undefined || target.api !== route.api) {
        return this.#fail(call, reply, gatewayError('bad_route', decision.route, route.api));
      }
      call.route = { provider: target, price: priceFor(target, facts.model) ?? price };
    }
    const target = call.route?.provider;
    if (target === undefined)
      return this.#fail(call, reply, gatewayError('model_not_found', facts.model, false));

    // Rewrite.
    const stripped =
      decision.stripTools.length > 0 ? decision.stripTools.filter((t) => tools.includes(t)) : NONE;
    if (stripped.length > 0) {
      call.strippedTools = stripped;
      call.body = stripTools(surface, call.body, stripped as string[]);
      call.bodyChanged = true;
      reply.header(TOOLS_STRIPPED_HEADER, stripped.join(','));
    }
    if (call.format.requestUsageReporting(surface, call.body as Record<string, unknown>)) {
      call.hideUsageChunk = true;
      call.bodyChanged = true;
    }
    for (const plugin of this.#rewrite) {
      let edit = plugin.rewrite!(call, decision);
      if (edit instanceof Promise) edit = await edit;
      if (edit !== undefined) {
        call.body = edit.body;
        call.bodyChanged = true;
      }
    }
    this.#observed(call, 'rewrite');
    const extra = call.responseHeaders;
    for (const name in extra) reply.header(name, extra[name]);

    // Forward, with the response filters.
    const up = this.upstreams.get(snapshot, target);
    if (up.error !== null) {
      call.upstreamError = 'upstream_unconfigured';
      this.log.error({ reqId: call.id, provider: target.id, reason: up.error }, 'provider not callable');
      return this.#fail(call, reply, gatewayError('upstream_unconfigured', up.error));
    }
    call.upstreamPath = up.basePath + upstreamPath + upstreamQuery(request.url);
    call.outcome = 'forwarded';
    if (!call.aborted) forward(call, headers, reply, up, this.#filters(call), this.log, this.#inFlight);
    this.#observed(call, 'forward');
    return reply;
  }

  #authenticate(
    snapshot: Snapshot,
    credentials: { headers: FastifyRequest['headers']; queryKey?: string },
    nowMs: number,
  ): AuthResult | Promise<AuthResult> {
    const list = this.#authenticators;
    for (let i = 0; i < list.length; i++) {
      const r = list[i](snapshot, credentials, nowMs);
      if (r instanceof Promise) return this.#authenticateFrom(r, i, snapshot, credentials, nowMs);
      if (r !== undefined) return r;
    }
    return { status: 'missing', key: null };
  }

  async #authenticateFrom(
    pending: Promise<AuthResult | undefined>,
    at: number,
    snapshot: Snapshot,
    credentials: { headers: FastifyRequest['headers']; queryKey?: string },
    nowMs: number,
  ): Promise<AuthResult> {
    const r = await pending;
    if (r !== undefined) return r;
    const list = this.#authenticators;
    for (let i = at + 1; i < list.length; i++) {
      const next = await list[i](snapshot, credentials, nowMs);
      if (next !== undefined) return next;
    }
    return { status: 'missing', key: null };
  }

  /**
   * Runs the reserve plugins from `from`; applies their usage facts, reservations and headers; the
   * first refusal. Synchronous while the plugins answer synchronously (no turn spent per call).
   */
  #reserveStage(call: Call, from = 0): MaybePromise<Refusal | undefined> {
    const plugins = this.#reserve;
    for (let i = from; i < plugins.length; i++) {
      let r: Reserved | undefined | Promise<Reserved | undefined>;
      try {
        r = plugins[i].reserve!(call);
      } catch (err) {
        return this.#pluginFailed(call, plugins[i], 'reserve', err);
      }
      if (r instanceof Promise) {
        return r.then(
          (res) => this.#reserved(call, res) ?? this.#reserveStage(call, i + 1),
          (err: unknown) => this.#pluginFailed(call, plugins[i], 'reserve', err),
        );
      }
      const refusal = this.#reserved(call, r);
      if (refusal !== undefined) return refusal;
    }
    return undefined;
  }

  #reserved(call: Call, r: Reserved | undefined): Refusal | undefined {
    if (r === undefined) return undefined;
    if (r.reservation !== undefined) call.reservations.push(r.reservation);
    if (r.usage !== undefined) {
      const usage = call.input.usage;
      usage.budgets.push(...r.usage.budgets);
      usage.rateLimits.push(...r.usage.rateLimits);
    }
    if (r.headers !== undefined) Object.assign(call.responseHeaders, r.headers);
    return r.refusal;
  }

  #inspectStage(call: Call, from = 0): MaybePromise<Refusal | undefined> {
    const plugins = this.#inspect;
    for (let i = from; i < plugins.length; i++) {
      let r: Inspection | undefined | Promise<Inspection | undefined>;
      try {
        r = plugins[i].inspect!(call);
      } catch (err) {
        return this.#pluginFailed(call, plugins[i], 'inspect', err);
      }
      if (r instanceof Promise) {
        return r.then(
          (res) => this.#inspected(call, res) ?? this.#inspectStage(call, i + 1),
          (err: unknown) => this.#pluginFailed(call, plugins[i], 'inspect', err),
        );
      }
      const refusal = this.#inspected(call, r);
      if (refusal !== undefined) return refusal;
    }
    return undefined;
  }

  #inspected(call: Call, r: Inspection | undefined): Refusal | undefined {
    if (r === undefined) return undefined;
    if (r.findings !== undefined) call.findings.push(...r.findings);
    if (r.scan !== undefined) call.scan = r.scan;
    return r.refusal;
  }

  /** A plugin that throws before the decision refuses the call: what it was to check went unchecked. */
  #pluginFailed(call: Call, plugin: Plugin, stage: Stage, err: unknown): Refusal {
    this.log.error({ reqId: call.id, plugin: plugin.name, err: (err as Error).message }, `${stage} failed`);
    return { decision: POLICY_ERROR };
  }

  /**
   * The one place a call's decision is made: a plugin's refusal stands (worded by the policy when it
   * asks for that and the policy denies); otherwise the policy decides; a key that did not
   * authenticate is refused whatever the policy says.
   */
  async #decide(
    call: Call,
    refusal: Refusal | undefined,
    badAuth: AuthResult | undefined,
  ): Promise<Decision> {
    if (refusal !== undefined && refusal.policyWords !== true) return refusal.decision;
    let decision: Decision;
    try {
      // Alone, a call is decided at once; with others in flight, with those of this turn.
      decision =
        this.#active > 1 && refusal === undefined
          ? await this.#decisions.decide(call.snapshot, call.input)
          : call.snapshot.evaluate(call.input);
    } catch (err) {
      this.log.error({ reqId: call.id, err: (err as Error).message }, 'policy evaluation failed');
      decision = POLICY_ERROR;
      if (refusal !== undefined) return refusal.decision;
    }
    if (refusal !== undefined) return decision.allow ? refusal.decision : decision;
    if (decision.allow && badAuth !== undefined && badAuth.status !== 'ok')
      return authRefusal(badAuth.status);
    return decision;
  }

  #filters(call: Call): ResponseFilter | undefined {
    const plugins = this.#respond;
    if (plugins.length === 0) return undefined;
    const filters: ResponseFilter[] = [];
    for (const plugin of plugins) {
      const f = plugin.respond!(call);
      if (f !== undefined) filters.push(f);
    }
    return chainFilters(filters);
  }

  #fail(call: Call, reply: FastifyReply, err: GatewayError): FastifyReply {
    call.outcome = 'error';
    return sendError(reply, call.api, err);
  }

  #answerModels(call: Call, route: RouteSpec, reply: FastifyReply, model: string): FastifyReply {
    call.outcome = 'answered';
    const models = listModels(call.snapshot, call.key);
    if (route.local === 'models') return reply.send({ object: 'list', data: models });
    const found = models.find((m) => m.id === model);
    if (found !== undefined) return reply.send(found);
    return this.#fail(call, reply, gatewayError('model_not_found', model, true));
  }

  #observed(call: Call, stage: Stage): void {
    const observers = this.#observe;
    if (observers.length === 0) return;
    const event = { stage, at: call.elapsed() };
    for (const p of observers) {
      try {
        p.observe!(call, event);
      } catch (err) {
        this.log.error({ reqId: call.id, plugin: p.name, err: (err as Error).message }, 'observe failed');
      }
    }
  }

  /** The response is over (sent, failed or abandoned by the client). */
  finish(call: Call, statusCode: number): void {
    this.#active--;
    if (call.status === 0) call.status = statusCode;
    if (call.outcome === 'forwarded' || call.upstreamError !== null) call.usage = usageOf(call);
    if (this.log.isLevelEnabled('info')) {
      this.log.info(
        {
          reqId: call.id,
          surface: call.surface,
          model: call.input?.model,
          key: call.key?.id,
          status: call.status,
          outcome: call.outcome,
          code: call.decision?.code,
          aborted: call.aborted || undefined,
          ms: Math.round(call.timings.end * 1000) / 1000,
        },
        'call',
      );
    }
    // Calls refused before their facts were known (no snapshot, unreadable body) reserved nothing.
    if (call.input === undefined) return;
    if (call.reservations.length === 0 && this.#audit.length === 0) return;
    const done = this.#settleAndAudit(call);
    this.#after.add(done);
    done.finally(() => this.#after.delete(done));
  }

  async #settleAndAudit(call: Call): Promise<void> {
    for (const r of call.reservations) await r.settle(call);
    this.#observed(call, 'settle');
    if (this.#audit.length === 0) return;
    const record = callRecord(call);
    for (const plugin of this.#audit) {
      try {
        await plugin.audit!(record, call);
      } catch (err) {
        this.log.error({ reqId: call.id, plugin: plugin.name, err: (err as Error).message }, 'audit failed');
      }
    }
    this.#observed(call, 'audit');
  }
}

function onResponseClose(this: TrackedResponse): void {
  const call = this[kCall];
  const pipeline = this[kPipeline];
  if (call === undefined || pipeline === undefined) return;
  call.timings.end = call.elapsed();
  if (!this.writableFinished) {
    call.aborted = true;
    call.upstream?.cancel();
  }
  pipeline.finish(call, this.statusCode);
}
