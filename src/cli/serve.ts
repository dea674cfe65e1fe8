// `portcullis serve`: build the policy snapshot, then serve the inference surfaces with it.
import cluster from 'node:cluster';
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { type Primary, startPrimary } from '../cluster/primary.ts';
import { runWorker } from '../cluster/worker.ts';
import { createGatewayPlugins, type GatewayPluginsOptions } from '../gateway/assemble.ts';
import type { Authenticator } from '../gateway/authenticate.ts';
import type { AuditLogComponent } from '../gateway/components/audit-log.ts';
import { Lifecycle } from '../gateway/lifecycle.ts';
import { createLogger } from '../gateway/logger.ts';
import type { Plugin } from '../gateway/plugin.ts';
import { createGuardrailsPlugin } from '../gateway/plugins/guardrails.ts';
import { createMcpGuard } from '../gateway/plugins/mcp-guard.ts';
import { CallMetrics, createMetricsPlugin, createTracingPlugin } from '../gateway/plugins/observability.ts';
import { createGateway, type Gateway } from '../gateway/server.ts';
import { SnapshotHolder } from '../gateway/snapshot-holder.ts';
import { registerIdentityRoutes } from '../identity/http.ts';
import { IdentityService } from '../identity/service.ts';
import { createMcpGateway } from '../mcp/index.ts';
import { tracerFromEnv } from '../observability/tracing.ts';
import { formatProblem, PolicyInvalidError } from '../policy/problems.ts';
import { DEFAULT_DRAIN_SECONDS, drain } from '../serving/drain.ts';
import {
  type BundleFlags,
  bundleSource,
  parseBundleFlags,
  parseServingFlags,
  type ServingFlags,
} from '../serving/flags.ts';
import { followSecrets } from '../serving/secrets.ts';
import { reloadingTls } from '../serving/tls.ts';
import { createPolicyManager, type PolicyManager, registerWebhookRoutes } from '../sync/index.ts';
import { adminTokenAuthorizer } from '../ui/auth.ts';
import { registerDashboard } from '../ui/routes.ts';
import { CliError, EXIT, usageError } from './errors.ts';
import type { ParsedOptions } from './program.ts';
import {
  checkUpstreamVariables,
  describeUpstreams,
  type UpstreamStatus,
  upstreamStatus,
} from './startup-checks.ts';

export interface ServeOptions {
  policyDir: string;
  git?: { url: string; ref?: string; subdir?: string };
  bundle?: BundleFlags;
  /** TLS and the SIGTERM drain bound. */
  serving?: ServingFlags;
  pollSeconds?: number;
  allowedSigners?: string;
  port: number;
  host: string;
  dataDir: string;
  logLevel: string;
  /** Plugins run after the built-in ones (before audit). */
  plugins?: Plugin[];
  /** Refuse PORTCULLIS_UPSTREAM_* variables that name no provider (the CLI does; embedders choose). */
  checkUpstreamVariables?: boolean;
  /** Tried before the virtual-key lookup, for model and MCP calls alike. */
  authenticators?: Authenticator[];
  /** Event loops (processes) serving the port; 1 serves from this process (see src/cluster/). */
  workers?: number;
  /** A cluster worker's parts: the primary follows the policy and holds the stores (src/cluster/). */
  cluster?: {
    holder: SnapshotHolder;
    manager: PolicyManager;
    registry: Registry;
    openStore: NonNullable<GatewayPluginsOptions['openStore']>;
    auditLog: AuditLogComponent;
    status(): Record<string, unknown>;
  };
}

export interface Serving {
  gateway: Gateway;
  manager: PolicyManager;
  url: string;
  /** Where each provider's calls go, and credentials that are missing. */
  upstreams(): UpstreamStatus[];
  /** Stop following the policy, stop MCP upstreams, finish calls in flight. */
  close(): Promise<void>;
}

/**
 * Start following the policy source and listen. A local directory must be valid at start (its
 * problems are thrown); a git source may start not ready (503) until a valid revision arrives.
 */
export async function startServing(opts: ServeOptions): Promise<Serving> {
  mkdirSync(opts.dataDir, { recursive: true });
  const log = createLogger(opts.logLevel);
  const cluster = opts.cluster;
  const registry = cluster?.registry ?? new Registry();
  // The default metrics' names already start with process_ or nodejs_.
  collectDefaultMetrics({ register: registry, prefix: 'portcullis_' });
  const holder = cluster?.holder ?? new SnapshotHolder();
  const tls = opts.serving?.tls ? reloadingTls(opts.serving.tls, log) : undefined;
  const secrets = followSecrets(holder, log);
  const manager =
    cluster?.manager ??
    createPolicyManager({
      source: opts.bundle
        ? bundleSource(opts.bundle)
        : opts.git
          ? { kind: 'git', ...opts.git }
          : { kind: 'dir', dir: opts.policyDir },
      holder,
      dataDir: opts.dataDir,
      pollSeconds: opts.pollSeconds,
      allowedSigners: opts.allowedSigners,
      logger: log,
      registry,
    });
  // Traces only when the OpenTelemetry environment asks for them: otherwise no tracing code runs.
  const tracer = tracerFromEnv();
  // PORTCULLIS_CALL_METRICS=off leaves out the per-call metrics (the benchmark's baseline).
  const observability = [
    ...(process.env.PORTCULLIS_CALL_METRICS === 'off'
      ? []
      : [createMetricsPlugin(new CallMetrics(registry))]),
    ...(tracer ? [createTracingPlugin(tracer)] : []),
  ];
  // Limits → guardrails → opts.plugins → metrics, tracing → audit; stores started with the first active snapshot.
  const extra = [createGuardrailsPlugin({ logger: log }), ...(opts.plugins ?? []), ...observability];
  const wired = createGatewayPlugins({
    dataDir: opts.dataDir,
    registry,
    logger: log,
    extra,
    openStore: cluster?.openStore,
    auditLog: cluster?.auditLog,
  });
  // Personal keys and IdP tokens (src/identity): their store follows the policy like the others.
  const identity = new IdentityService({
    dataDir: opts.dataDir,
    onError: (message) => log.warn({ err: message }, 'identity'),
  });
  const identityLifecycle = new Lifecycle([identity], {
    logger: log,
    retryMs: Number(process.env.PORTCULLIS_SETTINGS_RETRY_MS) || 30_000,
  });
  const gateway = createGateway({
    holder,
    plugins: wired.plugins,
    authenticators: [identity.authenticator.gatewayAuthenticator, ...(opts.authenticators ?? [])],
    logger: log,
    registry,
    usageView: wired.usageView,
    serverFactory: tls?.serverFactory as never,
    status: () => ({
      sync: manager.status(),
      ...wired.lifecycle.status(),
      ...identityLifecycle.status(),
      upstreams: upstreamStatus(holder.current()),
      secrets: secrets.status(),
      ...cluster?.status(),
    }),
  });
  await registerIdentityRoutes(gateway.app, { service: identity, getSnapshot: () => holder.current() });
  // MCP calls run the inference gateway's stages: the same limits, decision and audit.
  const mcp = createMcpGateway({
    getSnapshot: () => holder.current(),
    stages: gateway.pipeline.stages,
    guard: createMcpGuard(() => holder.current()),
    onUpstreamError: (server, err) =>
      log.warn({ server, err: (err as Error).message }, 'MCP upstream failed'),
  });
  await gateway.app.register(mcp.plugin);
  await registerWebhookRoutes(gateway.app, manager);
  // The dashboard: the admin token until sign-in roles exist (identity adds a viewer-role authorizer).
  const adminToken = process.env.PORTCULLIS_ADMIN_TOKEN || undefined;
  const dashboard = registerDashboard(gateway.app, {
    dataDir: opts.dataDir,
    snapshot: () => holder.current(),
    authorize: adminToken ? adminTokenAuthorizer(adminToken) : undefined,
    adminToken,
  });
  const stopAll = async () => {
    await manager.stop();
    await gateway.close();
    await gateway.pipeline.drain();
    await wired.lifecycle.close();
    await mcp.close();
    await tracer?.close();
    dashboard.close();
    await identityLifecycle.close();
    tls?.close();
    await secrets.close();
  };

  await manager.start();
  if (!opts.git && !opts.bundle && holder.current() === undefined) {
    const rejected = manager.status().rejected;
    await stopAll();
    if (rejected) throw new PolicyInvalidError(rejected.problems);
    throw new Error(manager.status().lastError?.message ?? `cannot load the policy in ${opts.policyDir}`);
  }
  // The counter store and audit log start with the active policy and follow every later one.
  try {
    const first = holder.current();
    if (opts.checkUpstreamVariables && first !== undefined) checkUpstreamVariables(first);
    wired.lifecycle.follow(holder);
    identityLifecycle.follow(holder);
  } catch (err) {
    await stopAll();
    throw err;
  }
  await secrets.ready();
  let url: string;
  try {
    url = await gateway.listen(opts.port, opts.host);
  } catch (err) {
    await stopAll();
    throw err;
  }
  const active = holder.current();
  log.info(
    { url, revision: active?.revision ?? null, source: manager.status().source },
    'portcullis is serving',
  );
  return { gateway, manager, url, upstreams: () => upstreamStatus(holder.current()), close: stopAll };
}

function portArg(value: unknown, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw usageError(`${name} must be a port number (0-65535), not '${value}'`);
  return n;
}

/** `--workers`: a count ≥ 1, or `auto` (the cores this process may use); absent, 1. */
function workersArg(value: unknown): number {
  // One process unless asked: measured on 2 cores, two workers do not beat one (the primary's IPC
  // costs ~45 µs a call and every worker holds the whole snapshot); see docs/workers.md. `auto` asks
  // for one worker per core.
  if (value === undefined || value === '') return 1;
  if (value === 'auto') return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1024)
    throw usageError(`--workers must be a whole number of processes (1 or more), not '${value}'`);
  return n;
}

export function serveOptionsFrom(opts: ParsedOptions): ServeOptions {
  const poll = Number(opts.poll);
  if (!Number.isFinite(poll) || poll < 0)
    throw usageError(`--poll must be a number of seconds, not '${opts.poll}'`);
  const git = opts.git as string | undefined;
  const bundle = parseBundleFlags(opts);
  if (!git && !bundle && !existsSync(String(opts.policy)))
    throw usageError(
      `no such policy directory: ${resolve(String(opts.policy))}`,
      'give one with --policy DIR, or follow a repository with --git URL',
    );
  return {
    policyDir: resolve(String(opts.policy)),
    git: git
      ? { url: git, ref: opts.ref as string | undefined, subdir: opts.subdir as string | undefined }
      : undefined,
    bundle,
    serving: parseServingFlags(opts),
    pollSeconds: poll,
    allowedSigners: opts.allowedSigners ? resolve(String(opts.allowedSigners)) : undefined,
    port: portArg(opts.port, '--port'),
    host: String(opts.host),
    dataDir: resolve(String(opts.dataDir)),
    logLevel: String(opts.logLevel),
    checkUpstreamVariables: true,
    workers: workersArg(opts.workers ?? process.env.PORTCULLIS_WORKERS),
  };
}

const isServing = (s: Serving | Primary): s is Serving => 'gateway' in s;

export function untilSignal(): Promise<string> {
  return new Promise((done) => {
    const on = (sig: string) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      done(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

export async function serve(_args: string[], opts: ParsedOptions): Promise<number> {
  const options = serveOptionsFrom(opts);
  if (cluster.isWorker) return runWorker(options, startServing);
  const workers = options.workers ?? 1;
  let serving: Serving | Primary;
  try {
    serving = workers > 1 ? await startPrimary({ ...options, workers }) : await startServing(options);
  } catch (err) {
    if (err instanceof PolicyInvalidError) {
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      throw new CliError(`not serving: the policy in ${options.policyDir} is invalid`, {
        exitCode: EXIT.invalid,
      });
    }
    throw err;
  }
  process.stderr.write(
    `portcullis listening on ${serving.url}${workers > 1 ? ` (${workers} workers)` : ''}\n`,
  );
  const upstreams = serving.upstreams();
  if (upstreams.length > 0) process.stderr.write(`upstreams:\n${describeUpstreams(upstreams).join('\n')}\n`);
  const sig = await untilSignal();
  if (!isServing(serving)) {
    // The primary: every worker drains its own calls, then the stores close.
    await serving.close();
    return EXIT.ok;
  }
  await drain(
    { server: serving.gateway.app.server, close: serving.close, log: serving.gateway.log },
    (options.serving?.drainSeconds ?? DEFAULT_DRAIN_SECONDS) * 1000,
    sig,
  );
  return EXIT.ok;
}
