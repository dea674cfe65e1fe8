// Calls a policy Route serves (src/providers/routing): the route stage's plan and facts, the
// candidates the decision allows, each attempt prepared (translated, aliased or signed for a cloud)
// and forwarded with the next one ready when it fails, and the outcome told to the circuit breakers.
// The pipeline calls these at its route, decide, forward and finish stages.
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Decision, Surface } from '../policy/decision.ts';
import type { ProviderApi, ResolvedKey, Snapshot } from '../policy/snapshot.ts';
import { type AttemptRequest, prepareAttempt } from '../providers/routing/attempt.ts';
import {
  allowedCandidates,
  CircuitBreakers,
  candidatePrice,
  planFor,
  type RoutePlan,
  stickyChoice,
} from '../providers/routing/index.ts';
import { RouteRun } from '../providers/routing/run.ts';
import { TranslationError } from '../providers/translate/index.ts';
import type { Call } from './call.ts';
import { estimatedInputTokens } from './decision-input.ts';
import { type GatewayError, gatewayError } from './errors.ts';
import { forward, type Retry, type UpstreamAttempt, upstreamHeaders } from './forward.ts';
import type { ResponseFilter } from './plugin.ts';
import { sessionOf, upstreamQuery } from './request-facts.ts';
import type { Upstream, Upstreams } from './upstream.ts';

export { routeFacts } from '../providers/routing/index.ts';

/** What the forward stage knows of a routed call's request. */
export interface RoutedRequest {
  api: ProviderApi;
  surface: Surface;
  /** The model the client asked for. */
  model: string;
  stream: boolean;
  /** The client surface's own upstream path (no base path). */
  upstreamPath: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export class Router {
  /** One circuit per route target, for this gateway's life. */
  readonly breakers = new CircuitBreakers();
  readonly #upstreams: Upstreams;
  readonly #log: Logger;

  constructor(upstreams: Upstreams, log: Logger) {
    this.#upstreams = upstreams;
    this.#log = log;
  }

  /** Route stage: the plan when a Route serves the call (its first candidate is the call's provider). */
  plan(
    snapshot: Snapshot,
    surface: Surface,
    model: string,
    key: ResolvedKey | null,
    headers: IncomingHttpHeaders,
  ): RoutePlan | undefined {
    if (model === '') return undefined;
    return planFor(snapshot, surface, model, key, this.breakers, stickyChoice(sessionOf(headers)));
  }

  /** After an allowing decision: the run over the candidates it allows (set on the call), or the error. */
  start(call: Call, plan: RoutePlan, decision: Decision): RouteRun | GatewayError {
    const allowed = allowedCandidates(plan, decision.routeTargets);
    if (allowed.length === 0) return gatewayError('route_unavailable', plan.route.name);
    const run = new RouteRun(plan, allowed, this.breakers);
    call.route = { provider: allowed[0].provider, price: candidatePrice(allowed[0]), routing: run };
    return run;
  }

  /**
   * A token count for a model in another wire format has no upstream to ask: answered here with an
   * estimate. Returns true when it answered.
   */
  answerCount(call: Call, run: RouteRun, reply: FastifyReply, bodyBytes: number): boolean {
    if (!run.current.countLocally) return false;
    call.outcome = 'answered';
    const tokens = estimatedInputTokens(bodyBytes);
    reply.header('x-portcullis-estimated', 'input tokens, at four bytes of request per token');
    reply.send(call.surface === 'gemini.count_tokens' ? { totalTokens: tokens } : { input_tokens: tokens });
    return true;
  }

  /** Forward stage: the first attempt that can be prepared, with the next one ready when it fails. */
  async forward(
    call: Call,
    run: RouteRun,
    req: RoutedRequest,
    reply: FastifyReply,
    filter: ResponseFilter | undefined,
    inFlight: () => number,
  ): Promise<GatewayError | undefined> {
    const attempt: AttemptRequest = {
      clientApi: req.api,
      clientSurface: req.surface,
      body: call.body as Record<string, unknown>,
      requestedModel: req.model,
      stream: req.stream,
      clientPath: req.upstreamPath,
      query: upstreamQuery(req.url),
      headers: upstreamHeaders(
        req.headers,
        this.#upstreams.get(call.snapshot, run.current.provider),
        call.id,
      ),
      hostedTools: run.plan.route.translation.hostedTools,
      hideUsageChunk: call.hideUsageChunk,
    };
    const ready = await this.#prepare(call, run, attempt);
    if (!('attempt' in ready)) return ready;
    reply.header(
      'x-portcullis-route',
      `${run.plan.route.name}; ${run.current.provider.id}/${run.current.model}`,
    );
    if (run.dropped.length > 0) reply.header('x-portcullis-translation-dropped', run.dropped.join(', '));
    const retry: Retry = (failure) => {
      const wait = run.failed(failure);
      if (wait === null) return null;
      return new Promise((resolve) => setTimeout(resolve, wait)).then(() =>
        this.#prepare(call, run, attempt),
      );
    };
    call.outcome = 'forwarded';
    if (!call.aborted)
      forward(call, req.api, req.headers, reply, ready.up, filter, this.#log, inFlight, ready.attempt, retry);
    return undefined;
  }

  /**
   * The request for the run's current candidate; a candidate that cannot take it (untranslatable, its
   * cloud credentials missing) is recorded and the next one tried, as far as the route allows.
   */
  async #prepare(
    call: Call,
    run: RouteRun,
    req: AttemptRequest,
  ): Promise<{ up: Upstream; attempt: UpstreamAttempt } | GatewayError> {
    for (;;) {
      const c = run.current;
      const up = this.#upstreams.get(call.snapshot, c.provider);
      let problem: GatewayError;
      try {
        if (up.error !== null && c.provider.cloud === undefined) throw new Error(up.error);
        const attempt = await prepareAttempt(req, c, new URL(up.origin), up.basePath);
        for (const d of attempt.dropped) if (!run.dropped.includes(d)) run.dropped.push(d);
        call.route = { provider: c.provider, price: candidatePrice(c), routing: run };
        run.begin();
        return { up, attempt };
      } catch (err) {
        const message = (err as Error).message;
        problem =
          err instanceof TranslationError
            ? gatewayError('untranslatable', message)
            : gatewayError('upstream_unconfigured', message);
        this.#log.warn(
          { reqId: call.id, provider: c.provider.id, reason: message },
          'route candidate skipped',
        );
      }
      const wait = run.unpreparable(problem.code);
      if (wait === null) {
        call.upstreamError = problem.code;
        return problem;
      }
    }
  }
}
