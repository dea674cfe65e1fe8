// A real HashiCorp Vault server for the secret-manager tests, built from the hashicorp/vault module
// on the Go module proxy. `go install` refuses that module (its go.mod replaces its api and sdk
// submodules with local directories the module zip does not carry), so it is built from a scratch
// copy whose go.mod takes the published api and sdk instead. Heavy (≈1,500 packages): opt-in with
// `npm run setup -- --with-vault`; the tests use a loopback stand-in of Vault's HTTP API without it.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOOLS_BIN, ToolMissingError } from './tools.ts';

export const VAULT_MODULE = 'github.com/hashicorp/vault';
export const VAULT_VERSION = 'v1.21.1';

export function findVault(): string | undefined {
  for (const path of [process.env.VAULT_PATH, join(TOOLS_BIN, 'vault')]) {
    if (!path) continue;
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {}
  }
  return undefined;
}

function go(args: string[], cwd: string | undefined, log: (line: string) => void): Promise<number> {
  return new Promise((done) => {
    const child = spawn('go', args, {
      cwd,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let tail = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      tail = (tail + c).slice(-2000);
    });
    child.on('close', (code) => {
      if (code !== 0) log(tail);
      done(code ?? 1);
    });
  });
}

export async function buildVault(log: (line: string) => void): Promise<string> {
  const found = findVault();
  if (found) return found;
  if (spawnSync('go', ['version']).status !== 0) throw new ToolMissingError('building Vault needs Go');
  log(`building ${VAULT_MODULE}@${VAULT_VERSION} from the module proxy (several minutes)…`);
  const info = spawnSync('go', ['mod', 'download', '-json', `${VAULT_MODULE}@${VAULT_VERSION}`], {
    encoding: 'utf8',
    env: { ...process.env, GOFLAGS: '' },
  });
  if (info.status !== 0)
    throw new ToolMissingError(`go mod download ${VAULT_MODULE}@${VAULT_VERSION} failed`);
  const dir = (JSON.parse(info.stdout) as { Dir: string }).Dir;
  const scratch = join(tmpdir(), `portcullis-vault-${process.pid}`);
  rmSync(scratch, { recursive: true, force: true });
  cpSync(dir, scratch, { recursive: true });
  spawnSync('chmod', ['-R', 'u+w', scratch]);
  try {
    const mod = join(scratch, 'go.mod');
    writeFileSync(
      mod,
      readFileSync(mod, 'utf8')
        .split('\n')
        .filter((line) => !/^replace github\.com\/hashicorp\/vault\/(api|sdk)\S* => \.\//.test(line))
        .join('\n'),
    );
    mkdirSync(TOOLS_BIN, { recursive: true });
    const out = join(TOOLS_BIN, 'vault');
    const code = await go(['build', '-o', out, '.'], scratch, log);
    if (code !== 0) throw new ToolMissingError(`go build of Vault exited with ${code}`);
    return out;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
