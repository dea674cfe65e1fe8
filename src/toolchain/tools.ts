// Finds the pinned Go tools (OPA CLI, Regal) or installs them with `go install` into .tools/bin.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireBuildLock, waitForBuildLock } from './build-lock.ts';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const TOOLS_BIN = join(REPO_ROOT, '.tools', 'bin');

export interface ToolSpec {
  name: 'opa' | 'regal' | 'actionlint' | 'jaeger' | 'gofakes3' | 'helm';
  envVar: string;
  module: string;
  version: string;
  versionArgs: string[];
  /**
   * Build from a scratch module that requires this module (holding the program's package), for
   * programs that `go install m@v` refuses (a go.mod with replace directives).
   */
  viaModule?: string;
}

export const OPA: ToolSpec = {
  name: 'opa',
  envVar: 'OPA_PATH',
  module: 'github.com/open-policy-agent/opa',
  version: 'v1.22.2',
  versionArgs: ['version'],
};

// Pinned at the last release published under its StyraInc module path (Regal later moved to the
// open-policy-agent organisation). Some module proxies serve this version but refuse the module's
// version list, which `go install m@v` reads: installTool then builds it from a scratch module.
// Where it cannot be had at all, lint still runs OPA's own checks and says Regal was skipped.
export const REGAL: ToolSpec = {
  name: 'regal',
  envVar: 'REGAL_PATH',
  module: 'github.com/styrainc/regal',
  version: 'v0.35.1',
  versionArgs: ['version'],
};

// Lints GitHub Actions workflows (this repository's and those `portcullis init` writes); optional.
export const ACTIONLINT: ToolSpec = {
  name: 'actionlint',
  envVar: 'ACTIONLINT_PATH',
  module: 'github.com/rhysd/actionlint/cmd/actionlint',
  version: 'v1.7.12',
  versionArgs: ['-version'],
};

// Test-only servers for the observability tests: a tracing backend that also takes OTLP logs (its
// debug exporter prints them), and an S3-compatible object store. Optional: those tests skip without.
export const JAEGER: ToolSpec = {
  name: 'jaeger',
  envVar: 'JAEGER_PATH',
  module: 'github.com/jaegertracing/jaeger/cmd/jaeger',
  version: 'v1.75.0',
  versionArgs: ['version'],
  viaModule: 'github.com/jaegertracing/jaeger',
};

export const GOFAKES3: ToolSpec = {
  name: 'gofakes3',
  envVar: 'GOFAKES3_PATH',
  module: 'github.com/johannesboyne/gofakes3/cmd/gofakes3',
  version: 'v1.2.0',
  versionArgs: ['-h'],
};

// Renders and lints the Helm chart in deploy/helm; installed lazily by the chart test only.
export const HELM: ToolSpec = {
  name: 'helm',
  envVar: 'HELM_PATH',
  module: 'helm.sh/helm/v3/cmd/helm',
  version: 'v3.21.4',
  versionArgs: ['version', '--short'],
};

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where the tool is, without installing anything: env var, then .tools/bin, then PATH. */
export function findTool(spec: ToolSpec): string | undefined {
  const fromEnv = process.env[spec.envVar];
  if (fromEnv) return isExecutable(fromEnv) ? fromEnv : undefined;
  const local = join(TOOLS_BIN, spec.name);
  if (isExecutable(local)) return local;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, spec.name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export class ToolMissingError extends Error {}

function installHelp(spec: ToolSpec, reason: string): string {
  return [
    `${spec.name} ${spec.version} is not available (${reason}).`,
    `Install it with one of:`,
    `  GOBIN=${TOOLS_BIN} go install ${spec.module}@${spec.version}   (needs Go 1.24+)`,
    `  put an '${spec.name}' binary on PATH, or set ${spec.envVar}=/path/to/${spec.name}`,
  ].join('\n');
}

/** Runs one `go install`, streaming Go's progress to the log; resolves to its exit code and stderr tail. */
function goInstall(
  spec: ToolSpec,
  args: string[],
  cwd: string | undefined,
  log: (line: string) => void,
): Promise<{ code: number; tail: string }> {
  const started = Date.now();
  return new Promise((done) => {
    // -v names each package as it is compiled: the progress line counts them. -s -w: no symbol
    // table or DWARF, which the tools do not need and which lengthen the link.
    const child = spawn('go', ['install', '-v', '-ldflags=-s -w', ...args], {
      cwd,
      env: { ...process.env, GOBIN: TOOLS_BIN, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let downloaded = 0;
    let compiled = 0;
    let tail = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) {
        if (line.startsWith('go: downloading')) downloaded++;
        else if (/^[\w.~-]+(\/[\w.~-]+)*$/.test(line.trim())) compiled++;
        else if (line.trim()) tail = `${tail}${line}\n`.slice(-4000);
      }
    });
    const ticker = setInterval(() => {
      log(
        `  …building ${spec.name}: ${Math.round((Date.now() - started) / 1000)} s, ${compiled} packages compiled, ${downloaded} modules fetched`,
      );
    }, 10_000);
    child.on('close', (status) => {
      clearInterval(ticker);
      done({ code: status ?? 1, tail: tail.trim() });
    });
  });
}

/**
 * Installs the pinned version with `go install` into .tools/bin. One build of a tool at a time: a
 * second caller (`npm start` while the build `npm install` began is still running) waits for it.
 */
export async function installTool(spec: ToolSpec, log: (line: string) => void): Promise<string> {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) throw new ToolMissingError(installHelp(spec, 'Go is not installed'));
  mkdirSync(TOOLS_BIN, { recursive: true });
  const lock = join(TOOLS_BIN, '..', `${spec.name}-${spec.version}.building`);
  let release = acquireBuildLock(lock);
  if (release === undefined) {
    const started = Date.now();
    log(
      `waiting for the ${spec.name} build already running (started by \`npm install\`; its log: .tools/${spec.name}-build.log)…`,
    );
    release = await waitForBuildLock(lock, (seconds) => log(`  …still building ${spec.name}: ${seconds} s`));
    const built = findTool(spec);
    if (built !== undefined) {
      release();
      log(`${spec.name} ready after ${Math.round((Date.now() - started) / 1000)} s of waiting`);
      return built;
    }
    // That build failed: try once more here, where its errors are shown.
  }
  try {
    return await installLocked(spec, log);
  } finally {
    release();
  }
}

async function installLocked(spec: ToolSpec, log: (line: string) => void): Promise<string> {
  log(
    `installing ${spec.module}@${spec.version} with go install (first time only; this takes a few minutes)…`,
  );
  const started = Date.now();
  let result = spec.viaModule
    ? { code: 1, tail: '' }
    : await goInstall(spec, [`${spec.module}@${spec.version}`], undefined, log);
  if (
    result.code !== 0 &&
    (spec.viaModule !== undefined || /@v\/list|loading deprecation/.test(result.tail))
  ) {
    // The proxy serves the pinned version but not the module's version list: require it from a
    // scratch module and install from there, which needs no version list.
    if (spec.viaModule === undefined)
      log(`  the module proxy refuses ${spec.module}'s version list; building from a scratch module`);
    const scratch = mkdtempSync(join(tmpdir(), `portcullis-${spec.name}-`));
    try {
      writeFileSync(
        join(scratch, 'go.mod'),
        `module scratch\n\ngo 1.24\n\nrequire ${spec.viaModule ?? spec.module} ${spec.version}\n`,
      );
      result = await goInstall(spec, [spec.module], scratch, log);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  const installed = join(TOOLS_BIN, spec.name);
  if (result.code !== 0 || !isExecutable(installed)) {
    log(result.tail);
    throw new ToolMissingError(installHelp(spec, `go install exited with ${result.code}`));
  }
  log(`${spec.name} installed in ${Math.round((Date.now() - started) / 1000)} s → ${installed}`);
  return installed;
}

export async function ensureTool(spec: ToolSpec, log: (line: string) => void): Promise<string> {
  return findTool(spec) ?? installTool(spec, log);
}

/** The OPA binary, or a ToolMissingError that says exactly what to install. */
export function requireOpa(): string {
  const found = findTool(OPA);
  if (!found)
    throw new ToolMissingError(
      installHelp(OPA, 'not found; run `portcullis setup`, or `npm run setup` in a checkout'),
    );
  return found;
}
