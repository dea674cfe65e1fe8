// Makes a fresh machine ready: the pinned OPA (required), Regal and actionlint (best effort), and, with
// --with-redis, a redis-server binary for the distributed-store tests.
import { spawnSync } from 'node:child_process';
import { ACTIONLINT, ensureTool, findTool, OPA, REGAL, ToolMissingError } from '../src/toolchain/tools.ts';

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
  if (findTool(REGAL)) {
    log(`regal: ${findTool(REGAL)}`);
  } else if (!process.env.PORTCULLIS_SKIP_REGAL_INSTALL) {
    try {
      log(`regal: ${await ensureTool(REGAL, log)}`);
    } catch (err) {
      log(`regal is optional: ${(err as Error).message.split('\n')[0]}`);
      log(
        '`portcullis policy lint` will run opa check --strict and opa fmt, and say that Regal was skipped.',
      );
    }
  }
  if (findTool(ACTIONLINT)) {
    log(`actionlint: ${findTool(ACTIONLINT)}`);
  } else if (!process.env.PORTCULLIS_SKIP_ACTIONLINT_INSTALL) {
    try {
      log(`actionlint: ${await ensureTool(ACTIONLINT, log)}`);
    } catch (err) {
      log(`actionlint is optional: ${(err as Error).message.split('\n')[0]}`);
      log('the workflow lint test will be skipped.');
    }
  }
  if (process.argv.includes('--with-redis')) ensureRedis();
  return 0;
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
