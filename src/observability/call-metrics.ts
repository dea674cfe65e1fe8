// Prometheus metrics per call, derived from the finished call's record (what audit stores), plus the
// two facts the record does not carry: the time to the first byte of the answer and the budgets the
// call was counted against. Label values that callers choose (the model) are bounded; per-key labels
// are off unless the Gateway policy turns them on (`spec.metrics.perKeyLabels`). See
// docs/observability.md for every metric and its labels.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AuditRecord } from '../audit/record.ts';
import type { BudgetUsage } from '../policy/decision.ts';
import { LabelLimit } from './label-limit.ts';
import { CounterSeries, GaugeSeries, HistogramSeries, PathCache } from './series.ts';

/** The record of a finished call, as the pipeline freezes it (the audit record without instance and content). */
export type ObservedRecord = Readonly<Omit<AuditRecord, 'instance' | 'content'>>;

export interface ObservedExtras {
  /** Milliseconds from forwarding to the first byte of the answer's body (streams: the first event). */
  ttfbMs?: number;
  /** The budgets this call was counted against, with their spend before it. */
  budgets?: readonly BudgetUsage[];
  /** Overrides the `perKeyLabels` option for this call (the policy it was decided under). */
  perKeyLabels?: boolean;
}

export interface CallMetricsOptions {
  /** Whether requests, tokens and spend carry the virtual key id (and key budgets are reported). */
  perKeyLabels?: () => boolean;
  /** Distinct model names kept as label values before the rest count as `_other` (default 200). */
  maxModels?: number;
  /** Distinct key ids kept when per-key labels are on (default 2000). */
  maxKeys?: number;
}

/** Refusals by the limits, by decision code. */
const REFUSALS: Record<string, string> = {
  rate_limited: 'rate_limit',
  budget_exceeded: 'budget',
  limits_unavailable: 'limits_unavailable',
};

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const OVERHEAD_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** Label sets whose series handles are kept (calls of one shape share one); beyond, the cache starts afresh. */
const MAX_CACHED_SHAPES = 4096;

/** The series one shape of call updates (same surface, provider, model, team, outcome, code, key, stream). */
interface ShapeSeries {
  requests: CounterSeries;
  input: CounterSeries;
  output: CounterSeries;
  cached: CounterSeries;
  spend: CounterSeries;
  duration: HistogramSeries;
  overhead: HistogramSeries;
  upstream: HistogramSeries;
  ttfb: HistogramSeries;
}

interface Shape {
  surface: string;
  provider: string;
  model: string;
  team: string;
  outcome: string;
  code: string;
  key: string;
  stream: string;
}

export class CallMetrics {
  private readonly requests: Counter<string>;
  private readonly tokens: Counter<string>;
  private readonly spend: Counter<string>;
  private readonly duration: Histogram<string>;
  private readonly overhead: Histogram<string>;
  private readonly upstream: Histogram<string>;
  private readonly ttfb: Histogram<string>;
  private readonly findings: Counter<string>;
  private readonly stripped: Counter<string>;
  private readonly denied: Counter<string>;
  private readonly refusals: Counter<string>;
  private readonly budget: Gauge<string>;
  private readonly models: LabelLimit;
  private readonly keys: LabelLimit;
  private readonly perKey: () => boolean;
  private readonly shapes = new PathCache<ShapeSeries>(MAX_CACHED_SHAPES);
  private readonly budgets = new PathCache<GaugeSeries>(MAX_CACHED_SHAPES);
  // Lookup paths reused by every call (observe runs to its end synchronously).
  private readonly shapePath: string[] = ['', '', '', '', '', '', '', ''];
  private readonly budgetPath: string[] = ['', '', '', ''];

  constructor(registry: Registry, opts: CallMetricsOptions = {}) {
    const registers = [registry];
    this.perKey = opts.perKeyLabels ?? (() => false);
    this.models = new LabelLimit(opts.maxModels ?? 200);
    this.keys = new LabelLimit(opts.maxKeys ?? 2000);
    this.requests = new Counter({
      name: 'portcullis_requests_total',
      help: 'Calls by surface, provider, model, team, outcome and decision or error code (key: only with per-key labels)',
      labelNames: ['surface', 'provider', 'model', 'team', 'outcome', 'code', 'key'],
      registers,
    });
    this.tokens = new Counter({
      name: 'portcullis_tokens_total',
      help: 'Tokens by type (input, output, cached input) as the provider reported them',
      labelNames: ['provider', 'model', 'team', 'type', 'key'],
      registers,
    });
    this.spend = new Counter({
      name: 'portcullis_spend_usd_total',
      help: 'Spend in US dollars at the policy prices',
      labelNames: ['provider', 'model', 'team', 'key'],
      registers,
    });
    this.duration = new Histogram({
      name: 'portcullis_request_duration_seconds',
      help: 'Whole call, from arrival to the last byte sent',
      labelNames: ['surface', 'provider', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.overhead = new Histogram({
      name: 'portcullis_gateway_overhead_seconds',
      help: 'Time the gateway added before forwarding (authenticate, limits, guardrails, decision)',
      labelNames: ['surface'],
      buckets: OVERHEAD_BUCKETS,
      registers,
    });
    this.upstream = new Histogram({
      name: 'portcullis_upstream_latency_seconds',
      help: "Time from forwarding to the provider's response headers",
      labelNames: ['provider', 'stream'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.ttfb = new Histogram({
      name: 'portcullis_upstream_ttfb_seconds',
      help: "Time from forwarding to the answer's first body byte (a stream's first event)",
      labelNames: ['provider', 'stream'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.findings = new Counter({
      name: 'portcullis_guardrail_findings_total',
      help: 'Guardrail findings by chain, rule, action and stage (request or response)',
      labelNames: ['chain', 'rule', 'action', 'stage'],
      registers,
    });
    this.stripped = new Counter({
      name: 'portcullis_tools_stripped_total',
      help: 'Declared tools removed from requests by a tool scope',
      labelNames: ['team'],
      registers,
    });
    this.denied = new Counter({
      name: 'portcullis_tool_calls_denied_total',
      help: 'Tool calls in answers refused by a tool scope',
      labelNames: ['team'],
      registers,
    });
    this.refusals = new Counter({
      name: 'portcullis_limit_refusals_total',
      help: 'Calls refused by a rate limit, a budget, or an unavailable counter store',
      labelNames: ['reason', 'team'],
      registers,
    });
    this.budget = new Gauge({
      name: 'portcullis_budget_utilisation_ratio',
      help: 'Spend over limit of a budget in its current period, as last seen by a call (key budgets only with per-key labels)',
      labelNames: ['budget', 'scope', 'owner', 'period'],
      registers,
    });
  }

  observe(record: ObservedRecord, extras: ObservedExtras = {}): void {
    const perKey = extras.perKeyLabels ?? this.perKey();
    const surface = record.surface;
    const provider = record.provider || 'unknown';
    const model = this.models.value(record.model || 'unknown');
    const team = record.team ?? '';
    const outcome = record.outcome;
    const code = record.errorCode ?? record.decision?.code ?? '';
    const key = perKey && record.keyId !== null ? this.keys.value(record.keyId) : '';
    const stream = record.stream ? 'true' : 'false';
    const path = this.shapePath;
    path[0] = surface;
    path[1] = provider;
    path[2] = model;
    path[3] = team;
    path[4] = outcome;
    path[5] = code;
    path[6] = key;
    path[7] = stream;
    const s =
      this.shapes.get(path) ??
      this.shapes.add(path, this.seriesOf({ surface, provider, model, team, outcome, code, key, stream }));
    s.requests.inc(1);
    const t = record.tokens;
    if (t.input > 0) s.input.inc(t.input);
    if (t.output > 0) s.output.inc(t.output);
    if (t.cached > 0) s.cached.inc(t.cached);
    if (record.costUsd > 0) s.spend.inc(record.costUsd);
    const l = record.latency;
    s.duration.observe(l.totalMs / 1000);
    s.overhead.observe(l.gatewayMs / 1000);
    if (l.upstreamMs > 0) s.upstream.observe(l.upstreamMs / 1000);
    if (extras.ttfbMs !== undefined && extras.ttfbMs > 0) s.ttfb.observe(extras.ttfbMs / 1000);
    for (const f of record.findings) {
      this.findings.inc({ chain: f.chain, rule: f.rule, action: f.action, stage: f.stage });
    }
    if (record.tools.stripped.length > 0) this.stripped.inc({ team }, record.tools.stripped.length);
    if (record.tools.deniedCalls.length > 0) this.denied.inc({ team }, record.tools.deniedCalls.length);
    const reason = record.decision && !record.decision.allow ? REFUSALS[record.decision.code] : undefined;
    if (reason !== undefined) this.refusals.inc({ reason, team });
    const budgets = extras.budgets;
    if (budgets === undefined) return;
    for (const b of budgets) {
      if (b.scope === 'key' && !perKey) continue;
      if (b.limitUsd <= 0) continue;
      // Spend before the call plus what it actually cost (its reservation is settled by now).
      const spent = b.usedUsd + (record.outcome === 'denied' ? 0 : record.costUsd);
      const bpath = this.budgetPath;
      bpath[0] = b.id;
      bpath[1] = b.scope;
      bpath[2] = b.owner;
      bpath[3] = b.period;
      const gauge =
        this.budgets.get(bpath) ??
        this.budgets.add(
          bpath,
          new GaugeSeries(this.budget, { budget: b.id, scope: b.scope, owner: b.owner, period: b.period }),
        );
      gauge.set(spent / b.limitUsd);
    }
  }

  private seriesOf(c: Shape): ShapeSeries {
    const { provider, model, team, key, stream } = c;
    const tokens = (type: string) => new CounterSeries(this.tokens, { provider, model, team, type, key });
    return {
      requests: new CounterSeries(this.requests, {
        surface: c.surface,
        provider,
        model,
        team,
        outcome: c.outcome,
        code: c.code,
        key,
      }),
      input: tokens('input'),
      output: tokens('output'),
      cached: tokens('cached'),
      spend: new CounterSeries(this.spend, { provider, model, team, key }),
      duration: new HistogramSeries(
        this.duration,
        { surface: c.surface, provider, outcome: c.outcome },
        LATENCY_BUCKETS,
      ),
      overhead: new HistogramSeries(this.overhead, { surface: c.surface }, OVERHEAD_BUCKETS),
      upstream: new HistogramSeries(this.upstream, { provider, stream }, LATENCY_BUCKETS),
      ttfb: new HistogramSeries(this.ttfb, { provider, stream }, LATENCY_BUCKETS),
    };
  }
}

/** Whether the Gateway policy turns per-key labels on (`spec.metrics.perKeyLabels`). */
export function perKeyLabelsOf(
  documents: ReadonlyMap<string, ReadonlyMap<string, { spec: Record<string, unknown> }>>,
): boolean {
  for (const doc of documents.get('Gateway')?.values() ?? []) {
    const metrics = doc.spec.metrics as { perKeyLabels?: unknown } | undefined;
    if (metrics?.perKeyLabels === true) return true;
  }
  return false;
}
