// Installs the pinned Go tools. Only OPA is needed to serve; Regal and actionlint are for lint and the
// tests, which install them on first use (ensureOptionalTool), so `npm start` builds one tool, not three.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ACTIONLINT,
  ensureTool,
  findTool,
  GOFAKES3,
  JAEGER,
  OPA,
  REGAL,
  TOOLS_BIN,
  type ToolSpec,
} from './tools.ts';

export type Log = (line: string) => void;

const stderrLog: Log = (line) => process.stderr.write(`[setup] ${line}\n`);

/** `PORTCULLIS_SKIP_<TOOL>_INSTALL=1` skips a best-effort tool. */
const skipEnv = (spec: ToolSpec) => `PORTCULLIS_SKIP_${spec.name.toUpperCase()}_INSTALL`;

/**
 * A best-effort tool: found, or installed once. A failed `go install` (e.g. a module proxy that
 * refuses the module) is remembered in .tools/, so later runs do not spend time failing again.
 */
export async function ensureOptionalTool(
  spec: ToolSpec,
  without: string,
  log: Log = stderrLog,
): Promise<string | undefined> {
  const found = findTool(spec);
  if (found) return found;
  const marker = join(TOOLS_BIN, '..', `${spec.name}-${spec.version}.unavailable`);
  if (process.env[skipEnv(spec)] || existsSync(marker)) {
    log(`${spec.name} ${spec.version} is not installed (delete ${marker} to try again): ${without}`);
    return undefined;
  }
  try {
    return await ensureTool(spec, log);
  } catch (err) {
    log(`${spec.name} is optional and could not be installed: ${(err as Error).message.split('\n')[0]}`);
    log(without);
    mkdirSync(TOOLS_BIN, { recursive: true });
    writeFileSync(marker, `${new Date().toISOString()} ${(err as Error).message}\n`);
    return undefined;
  }
}

export const WITHOUT_REGAL =
  '`portcullis policy lint` runs opa check --strict and opa fmt, and says that Regal was skipped.';
export const WITHOUT_ACTIONLINT = 'the workflow lint test is skipped.';

export interface SetupOptions {
  lint?: boolean;
  withRedis?: boolean;
  /** rsyslog and Chromium (Debian packages), Jaeger and gofakes3 (go install) for the observability tests. */
  withObservability?: boolean;
  log?: Log;
}

/** OPA (required), then what the options ask for. Throws ToolMissingError when OPA cannot be had. */
export async function setup(options: SetupOptions = {}): Promise<void> {
  const log = options.log ?? stderrLog;
  log(`opa: ${await ensureTool(OPA, log)}`);
  if (options.lint) {
    const regal = await ensureOptionalTool(REGAL, WITHOUT_REGAL, log);
    if (regal) log(`regal: ${regal}`);
    const actionlint = await ensureOptionalTool(ACTIONLINT, WITHOUT_ACTIONLINT, log);
    if (actionlint) log(`actionlint: ${actionlint}`);
  }
  if (options.withRedis) ensureRedis(log);
  if (options.withObservability) await ensureObservability(log);
}

/**
 * What the observability tests run for real: rsyslog with TLS and Debian's Chromium (apt-get, as
 * root), gofakes3 and Jaeger (go install; Jaeger takes several minutes to build the first time).
 * Each is best effort: a test whose server is missing is skipped with the reason.
 */
export async function ensureObservability(log: Log = stderrLog): Promise<void> {
  ensureDebianPackages(
    [
      { bin: ['/usr/sbin/rsyslogd'], packages: ['rsyslog', 'rsyslog-gnutls'] },
      { bin: ['/usr/bin/chromium'], packages: ['chromium', 'fonts-dejavu-core'] },
    ],
    'the syslog and dashboard tests will be skipped.',
    log,
  );
  await ensureOptionalTool(GOFAKES3, 'the S3 sink test is skipped.', log);
  await ensureOptionalTool(JAEGER, 'the tracing and OTLP log tests are skipped.', log);
}

/** Installs the Debian packages whose binaries are missing (as root, with apt-get). */
function ensureDebianPackages(
  wanted: { bin: string[]; packages: string[] }[],
  without: string,
  log: Log,
): void {
  const missing = wanted.filter((w) => !w.bin.some((b) => existsSync(b))).flatMap((w) => w.packages);
  if (missing.length === 0) return;
  if (process.getuid?.() === 0 && spawnSync('apt-get', ['--version']).status === 0) {
    log(`installing ${missing.join(' ')} from Debian packages…`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      stdio: 'inherit',
      env,
    });
    if (r.status === 0) return;
  }
  log(`${missing.join(', ')} not installed: ${without}`);
}

export function ensureRedis(log: Log = stderrLog): void {
  if (spawnSync('redis-server', ['--version']).status === 0) return;
  const isRoot = process.getuid?.() === 0;
  if (isRoot && spawnSync('apt-get', ['--version']).status === 0) {
    log('installing redis-server from Debian packages…');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const r = spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], { stdio: 'inherit', env });
    if (r.status === 0) return;
  }
  log('redis-server is not installed: the Redis store tests will be skipped.');
  log('Install it with `sudo apt-get install redis-server` (Debian/Ubuntu) or `brew install redis`.');
}

/** `portcullis setup [--lint] [--with-redis]`. */
export async function setupCommand(_args: string[], opts: Record<string, unknown>): Promise<number> {
  await setup({ lint: Boolean(opts.lint), withRedis: Boolean(opts.withRedis) });
  return 0;
}
