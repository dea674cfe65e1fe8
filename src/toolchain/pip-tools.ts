// Python command-line tools pinned from PyPI, each in its own virtual environment under
// .tools/venvs/<name>, installed on first use by the tests that need them (and by nothing else).
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TOOLS_BIN, ToolMissingError } from './tools.ts';

export interface PipToolSpec {
  name: string;
  /** pip requirement, pinned (`moto[server]==5.2.5`). */
  requirement: string;
  /** Executable inside the environment's bin/. */
  bin: string;
}

/** Validates Kubernetes manifests against the API's strict JSON schemas, which the package ships. */
export const KUBERNETES_VALIDATE: PipToolSpec = {
  name: 'kubernetes-validate',
  requirement: 'kubernetes-validate==1.37.0',
  bin: 'kubernetes-validate',
};

/** A local AWS emulator (Secrets Manager among others) for the secret-manager tests. */
export const MOTO: PipToolSpec = { name: 'moto', requirement: 'moto[server]==5.2.5', bin: 'moto_server' };

export function venvDir(spec: PipToolSpec): string {
  return join(TOOLS_BIN, '..', 'venvs', spec.name);
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The interpreter a script's `#!` line names. */
function interpreterOf(script: string): string {
  try {
    const first = readFileSync(script, 'utf8').split('\n', 1)[0];
    return first.startsWith('#!') ? first.slice(2).trim().split(' ')[0] : '';
  } catch {
    return '';
  }
}

function python(): string | undefined {
  for (const candidate of ['python3', 'python']) {
    if (spawnSync(candidate, ['-c', 'import venv, ensurepip'], { stdio: 'ignore' }).status === 0)
      return candidate;
  }
  return undefined;
}

function run(cmd: string, args: string[]): Promise<{ code: number; tail: string }> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let tail = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      tail = (tail + c).slice(-3000);
    });
    child.on('close', (code) => done({ code: code ?? 1, tail: tail.trim() }));
    child.on('error', (err) => done({ code: 1, tail: err.message }));
  });
}

/** The tool's executable, installing it with pip into its own environment the first time. */
export async function ensurePipTool(
  spec: PipToolSpec,
  log: (line: string) => void = () => {},
): Promise<string> {
  const dir = venvDir(spec);
  const bin = join(dir, 'bin', spec.bin);
  // A virtual environment's scripts name their interpreter by absolute path: one made in a checkout
  // that has since moved (or a .tools shared from elsewhere) cannot start them, and is made again.
  if (executable(bin) && executable(interpreterOf(bin))) return bin;
  rmSync(dir, { recursive: true, force: true });
  const py = python();
  if (!py) throw new ToolMissingError(`${spec.name} needs Python 3 with venv (apt-get install python3-venv)`);
  log(`installing ${spec.requirement} from PyPI into ${dir}…`);
  let result = await run(py, ['-m', 'venv', dir]);
  if (result.code === 0) {
    result = await run(join(dir, 'bin', 'pip'), [
      'install',
      '--quiet',
      '--disable-pip-version-check',
      spec.requirement,
    ]);
  }
  if (result.code !== 0 || !executable(bin)) {
    rmSync(dir, { recursive: true, force: true });
    throw new ToolMissingError(
      `pip install ${spec.requirement} failed: ${result.tail.split('\n').slice(-3).join(' ')}`,
    );
  }
  return bin;
}
