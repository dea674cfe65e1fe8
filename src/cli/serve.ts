// `portcullis serve`: build the policy snapshot, then serve the inference surfaces with it.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createGatewayPlugins } from '../gateway/assemble.ts';
import { createLogger } from '../gateway/logger.ts';
import type { Plugin } from '../gateway/plugin.ts';
import { createGuardrailsPlugin, createMcpGuard } from '../gateway/plugins/guardrails.ts';
import { mcpAuditRecord } from '../gateway/plugins/mcp-audit.ts';
import { createGateway, type Gateway } from '../gateway/server.ts';
import { SnapshotHolder } from '../gateway/snapshot-holder.ts';
import { createMcpGateway } from '../mcp/index.ts';
import { formatProblem, PolicyInvalidError } from '../policy/problems.ts';
import { createPolicyManager, type PolicyManager, registerWebhookRoutes } from '../sync/index.ts';

const SHUTDOWN_GRACE_MS = 10_000;

const USAGE = `usage: portcullis serve [--policy policies | --git URL-or-path [--ref main] [--subdir policies]]
                        [--poll 30] [--allowed-signers FILE] [--port 8080] [--host 127.0.0.1]
                        [--data-dir .data] [--log-level info]
  --policy DIR     serve a local policy directory, reloaded when its files change
  --git REPO       follow a git repository (URL or path): fetched every --poll seconds and on
                   POST /webhooks/github|gitlab (PORTCULLIS_WEBHOOK_SECRET / PORTCULLIS_GITLAB_TOKEN)
`;

export interface ServeOptions {
  policyDir: string;
  git?: { url: string; ref?: string; subdir?: string };
  pollSeconds?: number;
  allowedSigners?: string;
  port: number;
  host: string;
  dataDir: string;
  logLevel: string;
  /** Plugins run after the built-in ones (before audit). */
  plugins?: Plugin[];
}

export interface Serving {
  gateway: Gateway;
  manager: PolicyManager;
  url: string;
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
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'portcullis_process_' });
  const holder = new SnapshotHolder();
  const manager = createPolicyManager({
    source: opts.git ? { kind: 'git', ...opts.git } : { kind: 'dir', dir: opts.policyDir },
    holder,
    dataDir: opts.dataDir,
    pollSeconds: opts.pollSeconds,
    allowedSigners: opts.allowedSigners,
    logger: log,
    registry,
  });
  // Limits → guardrails → opts.plugins → audit; stores started with the first active snapshot.
  const extra = [createGuardrailsPlugin({ logger: log }), ...(opts.plugins ?? [])];
  const wired = createGatewayPlugins({ dataDir: opts.dataDir, registry, logger: log, extra });
  const mcp = createMcpGateway({
    getSnapshot: () => holder.current(),
    guard: createMcpGuard(() => holder.current()),
    meter: (snapshot, key) => wired.meterToolCall(snapshot, key),
    audit: (event) => {
      const snapshot = holder.current();
      wired.appendAudit(mcpAuditRecord(event, snapshot, wired.instance), snapshot?.gateway);
    },
    onUpstreamError: (server, err) =>
      log.warn({ server, err: (err as Error).message }, 'MCP upstream failed'),
  });
  const gateway = createGateway({
    holder,
    plugins: wired.plugins,
    logger: log,
    registry,
    status: () => ({
      sync: manager.status(),
      ...wired.lifecycle.status(),
    }),
  });
  await gateway.app.register(mcp.plugin);
  await registerWebhookRoutes(gateway.app, manager);
  const stopAll = async () => {
    await manager.stop();
    await gateway.close();
    await gateway.pipeline.drain();
    await wired.lifecycle.close();
    await mcp.close();
  };

  await manager.start();
  if (!opts.git && holder.current() === undefined) {
    const rejected = manager.status().rejected;
    await stopAll();
    if (rejected) throw new PolicyInvalidError(rejected.problems);
    throw new Error(manager.status().lastError?.message ?? `cannot load the policy in ${opts.policyDir}`);
  }
  // The counter store and audit log start with the active policy and follow every later one.
  try {
    wired.lifecycle.follow(holder);
  } catch (err) {
    await stopAll();
    throw err;
  }
  const url = await gateway.listen(opts.port, opts.host);
  const active = holder.current();
  log.info(
    { url, revision: active?.revision ?? null, source: manager.status().source },
    'portcullis is serving',
  );
  return { gateway, manager, url, close: stopAll };
}

export function parseServeArgs(args: string[]): ServeOptions | null {
  const { values } = parseArgs({
    args,
    options: {
      policy: { type: 'string', default: 'policies' },
      git: { type: 'string' },
      ref: { type: 'string' },
      subdir: { type: 'string' },
      poll: { type: 'string', default: '30' },
      'allowed-signers': { type: 'string' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      'data-dir': { type: 'string', default: '.data' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const port = Number(values.port);
  const poll = Number(values.poll);
  if (values.help || !Number.isInteger(port) || port < 0 || port > 65535) return null;
  if (!Number.isFinite(poll) || poll < 0) return null;
  return {
    policyDir: resolve(values.policy),
    git: values.git ? { url: values.git, ref: values.ref, subdir: values.subdir } : undefined,
    pollSeconds: poll,
    allowedSigners: values['allowed-signers'] ? resolve(values['allowed-signers']) : undefined,
    port,
    host: values.host,
    dataDir: resolve(values['data-dir']),
    logLevel: values['log-level'],
  };
}

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

export async function serve(args: string[]): Promise<number> {
  let opts: ServeOptions | null;
  try {
    opts = parseServeArgs(args);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (opts === null) {
    process.stderr.write(USAGE);
    return args.includes('--help') || args.includes('-h') ? 0 : 2;
  }
  let serving: Serving;
  try {
    serving = await startServing(opts);
  } catch (err) {
    if (err instanceof PolicyInvalidError) {
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      process.stderr.write(`✗ not serving: the policy in ${opts.policyDir} is invalid\n`);
      return 1;
    }
    throw err;
  }
  process.stderr.write(`portcullis listening on ${serving.url}\n`);
  const sig = await untilSignal();
  serving.gateway.log.info({ signal: sig }, 'shutting down: finishing calls in flight');
  // Streams still running after the grace period are cut rather than holding the shutdown forever.
  const force = setTimeout(() => serving.gateway.app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
  force.unref();
  await serving.close();
  clearTimeout(force);
  return 0;
}
