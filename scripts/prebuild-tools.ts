// `npm install`'s postinstall in a checkout (package.json runs it only where .git exists, so an
// installed package, which has no scripts/, skips it): starts building OPA in the background, detached,
// with its log in .tools/opa-build.log, so the build overlaps the rest of `npm install`, and `npm start`
// or `npm test` wait for it (src/toolchain/build-lock.ts) instead of starting their own. Does nothing
// where OPA is already there, without Go, or with PORTCULLIS_NO_BACKGROUND_BUILD=1; if it fails, the
// foreground build runs as before.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { findTool, OPA, REPO_ROOT, TOOLS_BIN } from '../src/toolchain/tools.ts';

function shouldBuild(): boolean {
  if (process.env.PORTCULLIS_NO_BACKGROUND_BUILD === '1') return false;
  if (!existsSync(join(REPO_ROOT, '.git'))) return false;
  if (findTool(OPA) !== undefined) return false;
  return spawnSync('go', ['version']).status === 0;
}

try {
  if (shouldBuild()) {
    mkdirSync(TOOLS_BIN, { recursive: true });
    const logFile = join(TOOLS_BIN, '..', 'opa-build.log');
    const out = openSync(logFile, 'w');
    const child = spawn(process.execPath, [join(REPO_ROOT, 'scripts/setup-tools.ts')], {
      cwd: REPO_ROOT,
      detached: true,
      stdio: ['ignore', out, out],
    });
    child.unref();
    process.stderr.write(
      `[setup] building OPA ${OPA.version} in the background (log: .tools/opa-build.log); npm start and npm test wait for it\n`,
    );
  }
} catch (err) {
  process.stderr.write(`[setup] background OPA build not started: ${(err as Error).message}\n`);
}
