// The people-facing commands: `login`, `logout`, `whoami`, `token`, `run <agent>`,
// `agent-config`, `keys list|revoke|rotate` and `usage`. Everything but `keys rotate` talks to a
// gateway as the signed-in person; `keys rotate` replaces a static key's hash in the policy files.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { AGENTS, type AgentName, launchFor, managedFiles, tokenCommand } from '../identity/agents.ts';
import { configDir, forgetSignIn, gatewayUrl, loadSignIn } from '../identity/credentials.ts';
import type { publicRecord } from '../identity/key-store.ts';
import { freshKey, GatewayError, gatewayCall, login as signIn } from '../identity/session.ts';
import { SignInError } from '../identity/signin.ts';
import { listPolicyFiles } from '../policy/load.ts';
import { CliError, EXIT, usageError } from './errors.ts';
import { generateVirtualKey, hashVirtualKey } from './keys.ts';
import type { ParsedOptions } from './program.ts';

const out = (s: string) => process.stdout.write(s);
const err = (s: string) => process.stderr.write(s);

/** A sign-in or gateway failure as the CLI's one-line error (exit 1: refused; 3: unreachable). */
function failed(e: unknown): never {
  if (e instanceof SignInError) {
    throw new CliError(e.message, { exitCode: EXIT.invalid, hint: 'portcullis login signs you in' });
  }
  if (e instanceof GatewayError) {
    throw new CliError(e.message, { exitCode: e.status === 0 ? EXIT.toolFailure : EXIT.invalid });
  }
  throw e;
}

const str = (opts: ParsedOptions, name: string) => opts[name] as string | undefined;

function defaultFlow(): 'device' | 'browser' {
  if (process.platform === 'darwin' || process.platform === 'win32') return 'browser';
  return process.env.DISPLAY || process.env.WAYLAND_DISPLAY ? 'browser' : 'device';
}

async function interactiveLogin(gateway: string, flow: 'device' | 'browser', idp?: string) {
  return signIn({
    gateway,
    flow,
    idp,
    onDevicePrompt: (p) => {
      err(`To sign in, open ${p.verificationUriComplete ?? p.verificationUri}\n`);
      err(`and confirm the code ${p.userCode} (valid ${Math.round(p.expiresInSeconds / 60)} minutes).\n`);
    },
    openUrl: (url) => {
      err(`Opening your browser to sign in. If it does not open, visit:\n  ${url}\n`);
      void import('../identity/signin.ts').then((m) => m.openInBrowser(url));
    },
  });
}

export async function login(_args: string[], opts: ParsedOptions): Promise<number> {
  const values = {
    gateway: str(opts, 'gateway'),
    device: opts.device === true,
    browser: opts.browser === true,
    idp: str(opts, 'idp'),
  };
  const gateway = gatewayUrl(values.gateway);
  const flow = values.device ? 'device' : values.browser ? 'browser' : defaultFlow();
  try {
    const s = await interactiveLogin(gateway, flow, values.idp);
    err(
      `✓ signed in to ${gateway} as ${s.email ?? s.subject} (team ${s.team}` +
        `${s.roles.length > 0 ? `; roles ${s.roles.join(', ')}` : ''}); personal key ${s.keyId} valid until ${s.expiresAt}\n`,
    );
    return 0;
  } catch (e) {
    failed(e);
  }
}

export async function logout(_args: string[], opts: ParsedOptions): Promise<number> {
  const values = { gateway: str(opts, 'gateway') };
  const gateway = gatewayUrl(values.gateway);
  const saved = loadSignIn(gateway);
  if (saved !== undefined) {
    try {
      await gatewayCall(gateway, '/identity/keys/revoke', {
        token: saved.personalKey,
        body: { keyId: saved.keyId },
      });
    } catch {
      // The local copy goes regardless; an unrevoked key still expires.
    }
  }
  err(forgetSignIn(gateway) ? `✓ signed out of ${gateway}\n` : `not signed in to ${gateway}\n`);
  return 0;
}

export async function whoami(_args: string[], opts: ParsedOptions): Promise<number> {
  const values = { gateway: str(opts, 'gateway'), json: opts.json === true };
  const gateway = gatewayUrl(values.gateway);
  try {
    const key = await freshKey(gateway);
    const me = await gatewayCall<Record<string, unknown>>(gateway, '/identity/whoami', {
      token: key.personalKey,
    });
    out(
      values.json
        ? `${JSON.stringify(me)}\n`
        : `${Object.entries(me)
            .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : v}`)
            .join('\n')}\n`,
    );
    return 0;
  } catch (e) {
    failed(e);
  }
}

function parseRunArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      gateway: { type: 'string' },
      bin: { type: 'string' },
      device: { type: 'boolean' },
      browser: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** Prints a personal key valid for at least five more minutes (for Claude Code's apiKeyHelper, Codex's auth command). */
export async function token(_args: string[], opts: ParsedOptions): Promise<number> {
  const values = { gateway: str(opts, 'gateway') };
  try {
    out(`${(await freshKey(gatewayUrl(values.gateway))).personalKey}\n`);
    return 0;
  } catch (e) {
    failed(e);
  }
}

const RUN_HELP = `Usage: portcullis run ${AGENTS.join('|')} [options] [-- agent arguments]

Starts the agent through the gateway as you: signs in first when there is no valid personal key
(or the gateway refuses the saved one), then sets the agent's base URL and key and turns its own
telemetry off. Everything after -- goes to the agent.

Options:
  --gateway <url>  the gateway (default: PORTCULLIS_URL, else the last one signed in to)
  --bin <path>     the agent's executable (default: PORTCULLIS_AGENT_<NAME>, else the name on PATH)
  --device         sign in with a code to confirm in any browser
  --browser        sign in through this machine's browser (code + PKCE)
  -h, --help       this help

Examples:
  portcullis run claude --gateway https://portcullis.acme.example
  portcullis run codex -- exec "fix the flaky test"
`;

/** `run` sees its raw argv (the agent's own arguments pass through untouched). */
export async function run(args: string[]): Promise<number> {
  const dash = args.indexOf('--');
  const own = dash < 0 ? args : args.slice(0, dash);
  const passed = dash < 0 ? [] : args.slice(dash + 1);
  let parsed: ReturnType<typeof parseRunArgs>;
  try {
    parsed = parseRunArgs(own);
  } catch (e) {
    throw usageError((e as Error).message, 'portcullis run --help');
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(RUN_HELP);
    return 0;
  }
  const agent = positionals[0] as AgentName | undefined;
  if (agent === undefined || !AGENTS.includes(agent)) {
    throw usageError(
      agent === undefined
        ? 'which agent? claude, codex or gemini'
        : `unknown agent '${agent}': claude, codex or gemini`,
      `portcullis run ${AGENTS.join('|')} [-- agent arguments]`,
    );
  }
  const gateway = gatewayUrl(values.gateway);
  let key: string;
  try {
    key = (await freshKey(gateway)).personalKey;
    // A key revoked on the gateway is still unexpired here: ask before handing it to the agent.
    await gatewayCall(gateway, '/identity/whoami', { token: key });
  } catch (e) {
    const refused = e instanceof GatewayError && e.status === 401;
    if (!(e instanceof SignInError) && !refused) failed(e);
    err(
      `${refused ? 'the gateway refuses your saved key' : e.message.replace(/; run portcullis login$/, '')}: signing in.\n`,
    );
    try {
      key = (
        await interactiveLogin(gateway, values.device ? 'device' : values.browser ? 'browser' : defaultFlow())
      ).personalKey;
    } catch (e2) {
      failed(e2);
    }
  }
  const launch = launchFor(agent, gateway, key, configDir());
  for (const f of launch.files) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, f.content);
  }
  const bin = values.bin ?? process.env[`PORTCULLIS_AGENT_${agent.toUpperCase()}`] ?? agent;
  const child = spawn(bin, [...launch.args, ...positionals.slice(1), ...passed], {
    stdio: 'inherit',
    env: { ...process.env, ...launch.env },
  });
  return new Promise((done) => {
    child.on('error', (e) => {
      err(`portcullis: cannot start ${bin}: ${e.message}\n`);
      done(127);
    });
    child.on('exit', (code, signal) => done(code ?? (signal ? 128 : 1)));
  });
}

export async function agentConfig(_args: string[], opts: ParsedOptions): Promise<number> {
  const values = { gateway: str(opts, 'gateway'), out: str(opts, 'out'), cli: str(opts, 'cli') };
  if (values.gateway === undefined && process.env.PORTCULLIS_URL === undefined) {
    err(
      'usage: portcullis agent-config --gateway https://portcullis.example [--out DIR] [--cli "portcullis"]\n',
    );
    return 2;
  }
  const gateway = gatewayUrl(values.gateway);
  const cli = values.cli === undefined ? ['portcullis'] : values.cli.split(/\s+/).filter(Boolean);
  const files = managedFiles(gateway, tokenCommand(cli, gateway));
  if (values.out === undefined) {
    for (const f of files)
      out(`# ${f.path}${f.macPath ? ` (macOS: ${f.macPath})` : ''} — ${f.what}\n${f.content}\n`);
    return 0;
  }
  for (const f of files) {
    const path = join(resolve(values.out), f.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.content);
    err(`wrote ${path}: ${f.what}\n`);
  }
  return 0;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return `${rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

export async function keysList(_args: string[], opts: ParsedOptions): Promise<number> {
  const values = {
    gateway: str(opts, 'gateway'),
    user: str(opts, 'user'),
    group: str(opts, 'group'),
    all: opts.all === true,
    json: opts.json === true,
  };
  const gateway = gatewayUrl(values.gateway);
  const q = new URLSearchParams();
  if (values.user) q.set('subject', values.user);
  if (values.group) q.set('group', values.group);
  if (values.all) q.set('all', 'true');
  try {
    const me = await freshKey(gateway);
    const { keys } = await gatewayCall<{ keys: ReturnType<typeof publicRecord>[] }>(
      gateway,
      `/identity/keys?${q}`,
      {
        token: me.personalKey,
      },
    );
    if (values.json) {
      for (const k of keys) out(`${JSON.stringify(k)}\n`);
      return 0;
    }
    const iso = (ms: number | undefined) =>
      ms === undefined ? '-' : new Date(ms).toISOString().slice(0, 19).concat('Z');
    out(
      table([
        ['KEY', 'USER', 'EMAIL', 'GROUPS', 'LABEL', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED'],
        ...keys.map((k) => [
          k.id,
          k.subject,
          k.email ?? '-',
          k.groups.join(',') || '-',
          k.label ?? '-',
          k.status,
          iso(k.createdAt),
          iso(k.expiresAt),
          iso(k.lastUsedAt),
        ]),
      ]),
    );
    return 0;
  } catch (e) {
    failed(e);
  }
}

export async function keysRevoke(_args: string[], opts: ParsedOptions): Promise<number> {
  const values = {
    gateway: str(opts, 'gateway'),
    key: str(opts, 'key'),
    user: str(opts, 'user'),
    group: str(opts, 'group'),
  };
  const given = [values.key, values.user, values.group].filter((v) => v !== undefined);
  if (given.length !== 1) {
    err('usage: portcullis keys revoke (--key pk_… | --user SUBJECT | --group GROUP) [--gateway URL]\n');
    return 2;
  }
  const body = values.key
    ? { keyId: values.key }
    : values.user
      ? { subject: values.user }
      : { group: values.group };
  const gateway = gatewayUrl(values.gateway);
  try {
    const me = await freshKey(gateway);
    const { revoked } = await gatewayCall<{ revoked: { id: string; subject: string; email?: string }[] }>(
      gateway,
      '/identity/keys/revoke',
      { token: me.personalKey, body },
    );
    for (const k of revoked) out(`revoked ${k.id} (${k.email ?? k.subject})\n`);
    err(
      `✓ ${revoked.length} personal key${revoked.length === 1 ? '' : 's'} revoked; every replica refuses them within 2 s\n`,
    );
    return 0;
  } catch (e) {
    failed(e);
  }
}

/**
 * `keys rotate NAME`: a new key for a static VirtualKey in git. Writes the new hash into the YAML in
 * place (for a pull request) and prints the new key once; the old key works until the change merges.
 */
export async function keysRotate(args: string[], opts: ParsedOptions): Promise<number> {
  const values = { dir: str(opts, 'dir') ?? 'policies' };
  const positionals = args;
  const name = positionals[0];
  if (name === undefined) {
    err('usage: portcullis keys rotate NAME [--dir policies]\n');
    return 2;
  }
  const dir = resolve(values.dir);
  for (const file of existsSync(dir) ? listPolicyFiles(dir) : []) {
    const text = readFileSync(file, 'utf8');
    const docs = parseAllDocuments(text);
    if (!Array.isArray(docs)) continue;
    const doc = docs.find((d) => d.get('kind') === 'VirtualKey' && d.getIn(['metadata', 'name']) === name);
    if (doc === undefined) continue;
    const old = String(doc.getIn(['spec', 'keyHash']));
    const key = generateVirtualKey();
    const fresh = `sha256:${hashVirtualKey(key)}`;
    // Replace the one hash in the text: comments and layout stay as the author wrote them.
    const at = text.indexOf(old);
    if (at < 0 || text.indexOf(old, at + 1) >= 0) {
      throw new CliError(
        `cannot find a single keyHash ${old.slice(0, 20)}… for ${name} in ${relative(process.cwd(), file)}`,
        { exitCode: EXIT.invalid },
      );
    }
    writeFileSync(file, text.slice(0, at) + fresh + text.slice(at + old.length));
    err(
      `✓ ${relative(process.cwd(), file)}: VirtualKey ${name} has a new keyHash. Commit it and open a pull request;\n` +
        '  the old key keeps working until the change is merged and served. The new key is shown once:\n',
    );
    out(`${key}\n`);
    return 0;
  }
  err(`no VirtualKey named '${name}' under ${relative(process.cwd(), dir) || '.'}\n`);
  return 1;
}

export async function usage(_args: string[], opts: ParsedOptions): Promise<number> {
  const values = {
    gateway: str(opts, 'gateway'),
    since: str(opts, 'since') ?? '30d',
    by: str(opts, 'by') ?? 'person',
    json: opts.json === true,
  };
  const gateway = gatewayUrl(values.gateway);
  try {
    const me = await freshKey(gateway);
    const q = new URLSearchParams({ since: values.since, by: values.by });
    const result = await gatewayCall<{
      since: string;
      by: string;
      rows: {
        name: string;
        calls: number;
        denied: number;
        costUsd: number;
        inputTokens: number;
        outputTokens: number;
      }[];
    }>(gateway, `/identity/usage?${q}`, { token: me.personalKey });
    if (values.json) {
      out(`${JSON.stringify(result)}\n`);
      return 0;
    }
    out(`since ${result.since}\n`);
    out(
      table([
        [result.by.toUpperCase(), 'CALLS', 'DENIED', 'TOKENS_IN', 'TOKENS_OUT', 'COST_USD'],
        ...result.rows.map((r) => [
          r.name,
          String(r.calls),
          String(r.denied),
          String(r.inputTokens),
          String(r.outputTokens),
          r.costUsd.toFixed(6),
        ]),
      ]),
    );
    return 0;
  } catch (e) {
    failed(e);
  }
}

/** `audit query --gateway URL …`: the same filters, answered by a remote gateway for an auditor. */
export async function remoteAuditQuery(
  gatewayArg: string,
  filters: Record<string, string | undefined>,
  json: boolean,
): Promise<number> {
  const gateway = gatewayUrl(gatewayArg);
  try {
    const me = await freshKey(gateway);
    const q = new URLSearchParams(
      Object.entries(filters).filter((e): e is [string, string] => e[1] !== undefined),
    );
    const { entries } = await gatewayCall<{
      entries: { seq: number; prevHash: string; hash: string; record: Record<string, unknown> }[];
    }>(gateway, `/identity/audit?${q}`, { token: me.personalKey });
    if (json) {
      for (const e of entries) out(`${JSON.stringify(e)}\n`);
      return 0;
    }
    const { formatTable } = await import('../audit/query.ts');
    out(
      formatTable(
        entries.map((e) => ({
          seq: e.seq,
          prevHash: e.prevHash,
          hash: e.hash,
          json: JSON.stringify(e.record),
        })),
      ),
    );
    return 0;
  } catch (e) {
    failed(e);
  }
}
