// Makes a fresh machine ready: the pinned OPA (required), Regal and actionlint (best effort), and, with
// --with-redis, a redis-server binary for the distributed-store tests.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ACTIONLINT,
  ensureTool,
  findTool,
  OPA,
  REGAL,
  TOOLS_BIN,
  ToolMissingError,
  type ToolSpec,
} from '../src/toolchain/tools.ts';

const log = (line: string) => process.stderr.write(`[setup] ${line}\n`);

async function main(): Promise<number> {
  try {
    log(`opa: ${await ensureTool(OPA, log)}`);
  } catch (err) {
    if (err instanceof ToolMissingError) {
      log(err.message);
      return 1;
    }
    throw err;
  }
  await optionalTool(
    REGAL,
    'PORTCULLIS_SKIP_REGAL_INSTALL',
    '`portcullis policy lint` runs opa check --strict and opa fmt, and says that Regal was skipped.',
  );
  await optionalTool(ACTIONLINT, 'PORTCULLIS_SKIP_ACTIONLINT_INSTALL', 'the workflow lint test is skipped.');
  if (process.argv.includes('--with-redis')) ensureRedis();
  return 0;
}

/**
 * Installs a best-effort tool once. A failed `go install` (e.g. a module proxy that refuses the module)
 * is remembered in .tools/, so later runs do not spend time and output failing again.
 */
async function optionalTool(spec: ToolSpec, skipEnv: string, without: string): Promise<void> {
  const found = findTool(spec);
  if (found) {
    log(`${spec.name}: ${found}`);
    return;
  }
  const marker = join(TOOLS_BIN, '..', `${spec.name}-${spec.version}.unavailable`);
  if (process.env[skipEnv] || existsSync(marker)) {
    log(
      `${spec.name} ${spec.version} is not installed (go install failed earlier; delete ${marker} to retry): ${without}`,
    );
    return;
  }
  try {
    log(`${spec.name}: ${await ensureTool(spec, log)}`);
  } catch (err) {
    log(`${spec.name} is optional: ${(err as Error).message.split('\n')[0]}`);
    log(without);
    mkdirSync(TOOLS_BIN, { recursive: true });
    writeFileSync(marker, `${new Date().toISOString()} ${(err as Error).message}\n`);
  }
}

function ensureRedis(): void {
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

process.exitCode = await main();
