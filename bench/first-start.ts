// A newcomer's first start, timed: a fresh clone of this repository's HEAD, then the README's
// `npm install && npm start` with empty npm and Go caches (as on a new machine; the packages and Go
// modules come from the registries), until the demo serves. Takes minutes; run it only by name:
//   npm run bench first-start            (target: ready within 2 minutes on this 2-core machine)
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/toolchain/tools.ts';

const root = mkdtempSync(join(tmpdir(), 'pc-first-start-'));
const clone = join(root, 'clone');
execFileSync('git', ['clone', '-q', REPO_ROOT, clone]);
const port = String(20000 + Math.floor(Math.random() * 20000));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  GOCACHE: join(root, 'go-build'),
  GOMODCACHE: join(root, 'go-mod'),
  npm_config_cache: join(root, 'npm'),
  PORT: port,
};
delete env.OPA_PATH;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

console.log(`First start of a fresh clone, empty npm and Go caches — 2 CPUs, load average ${load()}`);
const t0 = performance.now();
const seconds = () => ((performance.now() - t0) / 1000).toFixed(0);

function run(args: string[], ready?: RegExp): Promise<{ child: ReturnType<typeof spawn> }> {
  const child = spawn('npm', args, { cwd: clone, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  return new Promise((resolve, reject) => {
    const on = (chunk: Buffer) => {
      text += chunk;
      if (ready?.test(text)) resolve({ child });
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.on('exit', (code) => {
      if (code === 0 && ready === undefined) resolve({ child });
      else reject(new Error(`npm ${args.join(' ')} exited with ${code}:\n${text.slice(-3000)}`));
    });
  });
}

try {
  await run(['install', '--no-audit', '--no-fund']);
  console.log(`  npm install                 ${seconds()} s (OPA build started in the background)`);
  const { child } = await run(['start'], /Press Ctrl-C to stop/);
  console.log(`  npm start ready             ${seconds()} s after the clone   (target ≤ 120 s)`);
  console.log(`  load average at the end     ${load()}`);
  process.kill(-(child.pid as number), 'SIGTERM');
} finally {
  rmSync(root, { recursive: true, force: true });
}
