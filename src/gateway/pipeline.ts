// The call pipeline of an inference call, in stages:
//   authenticate → facts → route → reserve → inspect → decide → rewrite → forward → respond
//   → settle → audit.
// Plugins (plugin.ts) return what they find; this file alone decides and applies. Nothing is forwarded
// without an allowing decision from the snapshot the call started with.
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { cappedOutputTokens, keyOutputCap } from '../limits/output-cap.ts';
import type { DecisionInput } from '../policy/decision.ts';
import type { ResolvedProvider, Snapshot } from '../policy/snapshot.ts';
import { adapters } from '../providers/index.ts';
import { priceFor } from '../providers/pricing.ts';
import { candidatePrice } from '../providers/routing/index.ts';
import type { RouteRun } from '../providers/routing/run.ts';
import type { PathFacts, RequestFacts } from '../providers/types.ts';
import { findTools, stripToolsReport, TOOLS_STRIPPED_HEADER, toolNames } from '../tools/index.ts';
import type { AuthResult } from './authenticate.ts';
import { Call } from './call.ts';
import { decisionInput, estimatedInputTokens } from './decision-input.ts';
import { denialError, type GatewayError, gatewayError, sendError } from './errors.ts';
import { forward } from './forward.ts';
import { listModels } from './models.ts';
import { parseBody, queryKey, sessionOf, upstreamQuery, userAgentOf } from './request-facts.ts';
import { Router, routeFacts } from './routed.ts';
import { parseGeminiTarget, type RouteSpec } from './routes.ts';
import type { Stages } from './stages.ts';
import type { Upstreams } from './upstream.ts';

/** The policy's warnings for an allowed call (a soft budget spent), as one header. */
export const WARNING_HEADER = 'x-portcullis-warning';

/** Printable ASCII only: a header value with other characters would throw. */
const headerText = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 2_000);

const kCall = Symbol('portcullis.call');
const kStages = Symbol('portcullis.stages');

interface TrackedResponse extends ServerResponse {
  [kCall]?: Call;
  [kStages]?: Stages;
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
  /** The stages and plugins calls run through (shared with the MCP endpoint). */
  stages: Stages;
  upstreams: Upstreams;
  log: Logger;
}

export class Pipeline {
  readonly stages: Stages;
  readonly upstreams: Upstreams;
  readonly log: Logger;

  /** Calls a policy Route serves. */
  readonly router: Router;

  constructor(opts: PipelineOptions) {
    this.stages = opts.stages;
    this.router = new Router(opts.upstreams, opts.log);
    this.upstreams = opts.upstreams;
    this.log = opts.log;
  }

  /**
   * The caller's key as the authenticate stage will see it, from the headers alone, so the server
   * can refuse a stranger before reading (and holding) the body.
   */
  authenticateHeaders(
    snapshot: Snapshot,
    request: FastifyRequest,
    api: RouteSpec['api'],
  ): { auth: AuthResult | Promise<AuthResult>; refused(auth: AuthResult): boolean } {
    const credentials = {
      headers: request.headers,
      queryKey: api === 'gemini' ? queryKey(request.query) : undefined,
    };
    const enforced = snapshot.gateway.enforceAuthOnInference;
    return {
      auth: this.stages.authenticate(snapshot, credentials, Date.now()),
      refused: (auth) => auth.status !== 'ok' && (enforced || auth.status !== 'missing'),
    };
  }

  /** Resolves once the settle/audit work of every call that ended so far has run (for shutdown). */
  drain(): Promise<void> {
    return this.stages.drain();
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
    const format = adapters[route.api];
    const call = new Call(request.id, snapshot, surface, route.api, format);
    const res = reply.raw as TrackedResponse;
    res[kCall] = call;
    const stages = this.stages;
    res[kStages] = stages;
    res.once('close', onResponseClose);
    stages.begin();
    stages.beforeEnd(call, res);

    // Authenticate.
    const headers = request.headers;
    if (headers.traceparent !== undefined) {
      call.traceContext = { traceparent: headers.traceparent, tracestate: headers.tracestate };
    }
    const credentials = {
      headers,
      queryKey: route.api === 'gemini' ? queryKey(request.query) : undefined,
    };
    // Inference routes authenticate before the body is read (server.ts); that result is reused.
    const authenticated = request.earlyAuth ?? stages.authenticate(snapshot, credentials, call.startedAt);
    const auth = authenticated instanceof Promise ? await authenticated : authenticated;
    call.auth = auth;
    const enforced = snapshot.gateway.enforceAuthOnInference;
    const refused = auth.status !== 'ok' && (enforced || auth.status !== 'missing');
    stages.observed(call, 'authenticate');

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
      facts = format.requestFacts(surface, body, path);
      const declared = findTools(surface, body);
      call.toolDeclarations = declared;
      tools = [...new Set(declared.tools.flatMap(toolNames))];
    } else {
      const model = (request.params as { model?: string }).model ?? '';
      facts = { model, stream: false, maxOutputTokens: 0 };
    }

    // Route: a policy Route's first candidate, else the provider serving the model (the decision may
    // move it).
    const plan =
      route.local === undefined
        ? this.router.plan(snapshot, surface, facts.model, auth.key, headers)
        : undefined;
    const first = plan?.candidates[0];
    const provider =
      plan !== undefined
        ? first?.provider
        : route.local !== undefined
          ? listingProvider(snapshot, auth.key?.providers)
          : facts.model === ''
            ? undefined
            : snapshot.providerFor(route.api, facts.model);
    const price =
      plan !== undefined
        ? first === undefined
          ? undefined
          : candidatePrice(first)
        : provider !== undefined && route.local === undefined
          ? priceFor(provider, facts.model)
          : undefined;
    if (provider !== undefined) call.route = { provider, price };
    if (auth.key !== null && facts.model !== '')
      call.outputCap = keyOutputCap(snapshot, auth.key, facts.model);
    const input: DecisionInput = decisionInput({
      surface,
      provider: provider?.id,
      model: first?.model ?? facts.model,
      pricedModel: price?.id,
      stream: facts.stream,
      tools,
      unreadableTools: call.toolDeclarations?.unreadable,
      sizes: {
        bodyBytes,
        estimatedInputTokens: estimatedInputTokens(bodyBytes),
        maxOutputTokens: cappedOutputTokens(facts.maxOutputTokens, price?.maxOutputTokens, call.outputCap),
      },
      auth:
        auth.reason === undefined
          ? { status: auth.status, enforced }
          : { status: auth.status, enforced, reason: auth.reason },
      key: auth.key,
      session: sessionOf(headers),
      userAgent: userAgentOf(headers),
      findings: call.findings,
      nowMs: call.startedAt,
      route: plan === undefined ? undefined : routeFacts(plan),
    });
    call.input = input;
    stages.observed(call, 'facts');

    // Reserve, inspect, decide. Awaited only when a stage answered with a promise.
    const admitted = stages.admit(call, refused ? auth : undefined);
    const decision = admitted instanceof Promise ? await admitted : admitted;
    if (!decision.allow) {
      call.outcome = 'denied';
      return sendError(reply, route.api, denialError(decision, snapshot.revision));
    }
    if (route.local !== undefined) return this.#answerModels(call, route, reply, facts.model);
    if (decision.warnings !== undefined && decision.warnings.length > 0) {
      call.responseHeaders[WARNING_HEADER] = headerText(decision.warnings.join(' '));
    }

    // The policy Route's candidates the decision allows; else the decision's route.
    let run: RouteRun | undefined;
    if (plan !== undefined) {
      const started = this.router.start(call, plan, decision);
      if (!('plan' in started)) return this.#fail(call, reply, started);
      run = started;
      if (this.router.answerCount(call, run, reply, bodyBytes)) return reply;
    } else if (decision.route !== undefined && decision.route !== '' && decision.route !== provider?.id) {
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
      // A tool goes when it, or a tool its code can call (a code-mode tool), is stripped: the header
      // and the audit name the tools that were removed.
      const r = stripToolsReport(surface, call.body, stripped as string[]);
      if (r.removed.length > 0) {
        call.strippedTools = r.removed;
        call.body = r.body;
        call.bodyChanged = true;
        reply.header(TOOLS_STRIPPED_HEADER, r.removed.join(','));
      }
    }
    if (format.requestUsageReporting(surface, call.body as Record<string, unknown>)) {
      call.hideUsageChunk = true;
      call.bodyChanged = true;
    }
    if (stages.rewrites) {
      const rewritten = stages.rewrite(call, decision);
      if (rewritten instanceof Promise) await rewritten;
    }
    stages.observed(call, 'rewrite');
    const extra = call.responseHeaders;
    for (const name in extra) reply.header(name, extra[name]);

    // Forward, with the response filters.
    if (run !== undefined) {
      const failed = await this.router.forward(
        call,
        run,
        {
          api: route.api,
          surface,
          model: facts.model,
          stream: facts.stream,
          upstreamPath,
          url: request.url,
          headers,
        },
        reply,
        stages.filters(call),
        stages.inFlight,
      );
      if (failed !== undefined) return this.#fail(call, reply, failed);
      stages.observed(call, 'forward');
      return reply;
    }
    const up = this.upstreams.get(snapshot, target);
    if (up.error !== null) {
      call.upstreamError = 'upstream_unconfigured';
      this.log.error({ reqId: call.id, provider: target.id, reason: up.error }, 'provider not callable');
      return this.#fail(call, reply, gatewayError('upstream_unconfigured', up.error));
    }
    call.upstreamPath = up.basePath + upstreamPath + upstreamQuery(request.url);
    call.outcome = 'forwarded';
    if (!call.aborted) {
      forward(call, route.api, headers, reply, up, stages.filters(call), this.log, stages.inFlight);
    }
    stages.observed(call, 'forward');
    return reply;
  }

  #fail(call: Call, reply: FastifyReply, err: GatewayError): FastifyReply {
    call.outcome = 'error';
    return sendError(reply, call.format?.api ?? 'openai', err);
  }

  #answerModels(call: Call, route: RouteSpec, reply: FastifyReply, model: string): FastifyReply {
    call.outcome = 'answered';
    const models = listModels(call.snapshot, call.key);
    if (route.local === 'models') return reply.send({ object: 'list', data: models });
    const found = models.find((m) => m.id === model);
    if (found !== undefined) return reply.send(found);
    return this.#fail(call, reply, gatewayError('model_not_found', model, true));
  }
}

function onResponseClose(this: TrackedResponse): void {
  const call = this[kCall];
  const stages = this[kStages];
  if (call === undefined || stages === undefined) return;
  // A call ends when its last bytes are handed to the socket (the `ending` stage notes the time then,
  // so that its provisional audit record and the final one agree); this event may come later.
  if (call.timings.end === 0) call.timings.end = call.elapsed();
  if (!this.writableFinished) {
    call.aborted = true;
    call.upstream?.cancel();
  }
  // A routed call's last attempt goes to its attempts and circuit breaker.
  const routing = call.route?.routing;
  if (routing !== undefined && call.outcome === 'forwarded')
    routing.finished(call.upstreamStatus, call.upstreamError);
  stages.finish(call, this.statusCode);
}
