#!/usr/bin/env node
// The `portcullis` command. Plain JavaScript that any Node runs, so that an older Node (the
// machine's v20, say) gets the pinned Node 24 of the `node` package instead of a cryptic error.
// In a checkout it runs src/ with Node's type stripping; the published package runs dist/, compiled
// by `npm pack` (Node does not strip types under node_modules).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [major, minor] = process.versions.node.split('.').map(Number);
// Type stripping and an unflagged node:sqlite: Node 22.18+, 23.6+, 24+.
const modern = major >= 24 || (major === 22 && minor >= 18) || (major === 23 && minor >= 6);

function pinnedNode() {
  try {
    const pkg = createRequire(join(root, 'package.json')).resolve('node/package.json');
    const bin = join(dirname(pkg), 'bin', 'node');
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

if (!modern) {
  const node = pinnedNode();
  if (!node || node === process.execPath) {
    process.stderr.write(
      `portcullis: needs Node 24 (this is Node ${process.versions.node}), and the pinned Node 24 of the ` +
        '`node` package is not installed next to it.\n' +
        'Run `npm install` in the repository (it brings Node 24), or install Node 24 (e.g. `nvm install 24`).\n',
    );
    process.exit(3);
  }
  const child = spawn(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  // Ctrl-C and a supervisor's SIGTERM reach the real process (e.g. `serve` finishing calls in flight).
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 3);
  });
} else {
  if (process.argv[2] === 'serve') tuneForServing();
  // A checkout has src/; the published package has only dist/.
  const source = join(root, 'src', 'cli', 'main.ts');
  const entry = existsSync(source) ? source : join(root, 'dist', 'cli', 'main.js');
  const { main } = await import(pathToFileURL(entry).href);
  process.exitCode = await main(process.argv.slice(2));
}

/**
 * A gateway holds its memory for days: `serve` runs with a 32 MB cap on V8's new-space semi-spaces
 * (the default lets a policy build grow them to 64 MB each, kept for good) and two glibc malloc
 * arenas instead of eight per core. Both must be set before the process starts, so the process
 * replaces itself (same pid) with one that has them; cluster workers inherit both. A setting of
 * either in the environment or on the command line is left as it is (docs/workers.md).
 */
function tuneForServing() {
  if (typeof process.execve !== 'function') return;
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const semiSpace = !flags.some((f) => /^--(max|min)-semi-space-size\b/.test(f));
  const arenas = process.platform === 'linux' && process.env.MALLOC_ARENA_MAX === undefined;
  if (!semiSpace && !arenas) return;
  try {
    process.execve(
      process.execPath,
      [
        process.execPath,
        ...(semiSpace ? ['--max-semi-space-size=32'] : []),
        ...process.execArgv,
        ...process.argv.slice(1),
      ],
      arenas ? { ...process.env, MALLOC_ARENA_MAX: '2' } : process.env,
    );
  } catch {
    // Not replaced: serve with the defaults.
  }
}
