// `portcullis serve`: build the policy snapshot, then serve the inference surfaces with it.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { PipelineHooks } from '../gateway/context.ts';
import { createGateway, type Gateway } from '../gateway/server.ts';
import { SnapshotHolder } from '../gateway/snapshot-holder.ts';
import { formatProblem, PolicyInvalidError } from '../policy/problems.ts';

const SHUTDOWN_GRACE_MS = 10_000;

const USAGE =
  'usage: portcullis serve [--policy policies] [--port 8080] [--host 127.0.0.1] [--data-dir .data] [--log-level info]\n';

export interface ServeOptions {
  policyDir: string;
  port: number;
  host: string;
  dataDir: string;
  logLevel: string;
  hooks?: PipelineHooks;
}

export interface Serving {
  gateway: Gateway;
  url: string;
}

/** Build the snapshot and listen; the caller owns shutdown (`gateway.close()`). */
export async function startServing(opts: ServeOptions): Promise<Serving> {
  mkdirSync(opts.dataDir, { recursive: true });
  const { buildSnapshot } = await import('../policy/build-snapshot.ts');
  const snapshot = await buildSnapshot({ dir: opts.policyDir });
  const gateway = createGateway({
    holder: new SnapshotHolder(snapshot),
    hooks: opts.hooks,
    logLevel: opts.logLevel,
  });
  const url = await gateway.listen(opts.port, opts.host);
  gateway.log.info({ url, revision: snapshot.revision, policy: opts.policyDir }, 'portcullis is serving');
  return { gateway, url };
}

export function parseServeArgs(args: string[]): ServeOptions | null {
  const { values } = parseArgs({
    args,
    options: {
      policy: { type: 'string', default: 'policies' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      'data-dir': { type: 'string', default: '.data' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const port = Number(values.port);
  if (values.help || !Number.isInteger(port) || port < 0 || port > 65535) return null;
  return {
    policyDir: resolve(values.policy),
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
  await serving.gateway.close();
  clearTimeout(force);
  return 0;
}
