// The CLI's sign-in state, one entry per gateway, in a file only the user can read:
// `$PORTCULLIS_CONFIG_DIR` or `$XDG_CONFIG_HOME/portcullis` or `~/.config/portcullis`.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface SavedSignIn {
  gateway: string;
  idp: string;
  issuer: string;
  clientId: string;
  scopes: string[];
  refreshToken?: string;
  personalKey: string;
  keyId: string;
  /** ISO-8601 expiry of the personal key. */
  expiresAt: string;
  subject: string;
  email?: string;
  team: string;
  groups: string[];
  roles: string[];
}

interface CredentialsFile {
  /** The gateway used last, the default for commands that take --gateway. */
  current?: string;
  gateways: Record<string, SavedSignIn>;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PORTCULLIS_CONFIG_DIR) return env.PORTCULLIS_CONFIG_DIR;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'portcullis');
}

const fileOf = (env: NodeJS.ProcessEnv) => join(configDir(env), 'credentials.json');

function read(env: NodeJS.ProcessEnv): CredentialsFile {
  const path = fileOf(env);
  if (!existsSync(path)) return { gateways: {} };
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as CredentialsFile;
    return { current: parsed.current, gateways: parsed.gateways ?? {} };
  } catch {
    return { gateways: {} };
  }
}

function write(env: NodeJS.ProcessEnv, data: CredentialsFile): void {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = fileOf(env);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export const normaliseGateway = (url: string) => url.replace(/\/+$/, '');

/** The gateway a command talks to: --gateway, else PORTCULLIS_URL, else the last one signed in to. */
export function gatewayUrl(given: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return normaliseGateway(given ?? env.PORTCULLIS_URL ?? read(env).current ?? 'http://127.0.0.1:8080');
}

export function loadSignIn(gateway: string, env: NodeJS.ProcessEnv = process.env): SavedSignIn | undefined {
  return read(env).gateways[normaliseGateway(gateway)];
}

export function saveSignIn(entry: SavedSignIn, env: NodeJS.ProcessEnv = process.env): void {
  const data = read(env);
  const gateway = normaliseGateway(entry.gateway);
  data.gateways[gateway] = { ...entry, gateway };
  data.current = gateway;
  write(env, data);
}

export function forgetSignIn(gateway: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const data = read(env);
  const key = normaliseGateway(gateway);
  if (data.gateways[key] === undefined) return false;
  delete data.gateways[key];
  if (data.current === key) data.current = undefined;
  write(env, data);
  return true;
}
