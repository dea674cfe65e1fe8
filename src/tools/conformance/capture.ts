// Captures the request bodies real coding agents send, as test fixtures, and reports the shapes in
// them the gateway does not recognise (see shapes.ts), so a new agent release that moves its tools or
// adds a block type fails loudly instead of passing silently.
//
// Each installed agent runs once, headless, in a throwaway home and working directory, its telemetry
// off and its proxies pointed at a closed port, against the provider simulator through a small
// recording proxy. The first request that declares tools is answered with a tool call (the simulator's
// `x-sim-tool-call`), so the next request shows how the agent sends tool calls and results back.
// Bodies are scrubbed of what is specific to the machine (paths, host and user names, ids, dates)
// before they are written.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, release, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Surface } from '../../policy/decision.ts';
import { Simulator } from '../../simulator/server.ts';
import { surfaceOfPath, unrecognisedShapes } from './shapes.ts';

export interface AgentSpec {
  /** Fixture directory prefix: `claude-code`, `codex`, `gemini-cli`. */
  name: string;
  bin: string;
  /** The simulator tool to answer the first tool-declaring request with. */
  toolCall: string;
  /** Environment, arguments and files for a headless run against `base` (the recording proxy). */
  setup(base: string, home: string): { env: Record<string, string>; args: string[] };
}

const PROMPT = 'List the files in this directory.';

export function agentSpecs(binDir: string): AgentSpec[] {
  return [
    {
      name: 'claude-code',
      bin: join(binDir, 'claude'),
      toolCall: 'Bash',
      setup: (base) => ({
        env: {
          ANTHROPIC_BASE_URL: base,
          ANTHROPIC_AUTH_TOKEN: 'sim',
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          DISABLE_TELEMETRY: '1',
          DISABLE_AUTOUPDATER: '1',
        },
        args: [
          '-p',
          PROMPT,
          '--model',
          'claude-sonnet-4-5',
          '--max-turns',
          '2',
          '--allowedTools',
          'Bash(ls)',
        ],
      }),
    },
    {
      name: 'codex',
      bin: join(binDir, 'codex'),
      toolCall: 'exec',
      setup: (base, home) => {
        mkdirSync(join(home, '.codex'), { recursive: true });
        writeFileSync(
          join(home, '.codex', 'config.toml'),
          [
            'model_provider = "sim"',
            '[analytics]',
            'enabled = false',
            '[model_providers.sim]',
            'name = "Simulator"',
            `base_url = "${base}/v1"`,
            'env_key = "SIM_API_KEY"',
            'wire_api = "responses"',
            '',
          ].join('\n'),
        );
        return {
          env: { SIM_API_KEY: 'sim', CODEX_HOME: join(home, '.codex') },
          args: ['exec', '--skip-git-repo-check', PROMPT],
        };
      },
    },
    {
      name: 'gemini-cli',
      bin: join(binDir, 'gemini'),
      toolCall: 'list_directory',
      setup: (base, home) => {
        mkdirSync(join(home, '.gemini'), { recursive: true });
        writeFileSync(
          join(home, '.gemini', 'settings.json'),
          JSON.stringify({
            security: { auth: { selectedType: 'gemini-api-key' } },
            telemetry: { enabled: false },
            privacy: { usageStatisticsEnabled: false },
          }),
        );
        return {
          env: { GOOGLE_GEMINI_BASE_URL: base, GEMINI_API_KEY: 'sim', GEMINI_CLI_TRUST_WORKSPACE: 'true' },
          args: ['-p', PROMPT],
        };
      },
    },
  ];
}

export interface Captured {
  method: string;
  path: string;
  surface: Surface | undefined;
  body: unknown;
}

const declaresTools = (body: unknown): boolean =>
  typeof body === 'object' &&
  body !== null &&
  (('tools' in body && Array.isArray((body as { tools: unknown }).tools)) ||
    (Array.isArray((body as { input?: unknown }).input) &&
      ((body as { input: unknown[] }).input as { type?: unknown }[]).some(
        (i) => i?.type === 'additional_tools',
      )));

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A proxy in front of the simulator that records every request and asks for one tool call. */
async function recordingProxy(
  target: string,
  toolCall: string,
): Promise<{ server: Server; url: string; log: Captured[] }> {
  const log: Captured[] = [];
  let asked = false;
  const server = createServer(async (req, res) => {
    try {
      const raw = await readAll(req);
      const url = req.url ?? '/';
      const path = url.split('?')[0];
      let body: unknown = raw.toString('utf8');
      try {
        body = JSON.parse(body as string);
      } catch {
        // recorded as text
      }
      log.push({ method: req.method ?? 'GET', path, surface: surfaceOfPath(path), body });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string' && !['host', 'content-length', 'connection'].includes(k)) headers[k] = v;
      if (!asked && declaresTools(body)) {
        asked = true;
        headers['x-sim-tool-call'] = toolCall;
      }
      const up = await fetch(target + url, {
        method: req.method,
        headers,
        body: raw.length > 0 ? raw : undefined,
      });
      const out: Record<string, string> = {};
      up.headers.forEach((v, k) => {
        if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'content-encoding') out[k] = v;
      });
      res.writeHead(up.status, out);
      if (up.body) Readable.fromWeb(up.body as import('node:stream/web').ReadableStream).pipe(res);
      else res.end();
    } catch (err) {
      res.writeHead(502).end(String(err));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, log };
}

/** The agent's version, from `<bin> --version` (the first x.y.z in it). */
export function agentVersion(bin: string): string | undefined {
  const r = spawnSync(bin, ['--version'], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return /\d+\.\d+\.\d+/.exec(`${r.stdout}${r.stderr}`)?.[0];
}

/** Replaces what is specific to this machine and this run with stable stand-ins. */
export function scrub(json: string, places: { work: string; home: string }): string {
  const uuids = new Map<string, string>();
  const hexes = new Map<string, string>();
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  let out = json;
  // Claude Code names per-project directories after the path with `/` as `-`.
  const dashed = places.work.replace(/[/.]/g, '-');
  const literal: [string, string][] = [
    [places.work, '/workspace/project'],
    [dashed, '-workspace-project'],
    [places.home, '/home/agent'],
    [tmpdir(), '/tmp'],
    [hostname(), 'agent-host'],
    [release(), '6.0.0-generic'],
  ];
  const user = userInfo().username;
  for (const [from, to] of literal) if (from.length > 2) out = out.replace(new RegExp(esc(from), 'g'), to);
  if (user.length > 2 && user !== 'root') out = out.replace(new RegExp(`\\b${esc(user)}\\b`, 'g'), 'agent');
  out = out.replace(
    /(?<![0-9a-f])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-f])/gi,
    (u) => {
      let v = uuids.get(u.toLowerCase());
      if (v === undefined) {
        v = `00000000-0000-4000-8000-${String(uuids.size + 1).padStart(12, '0')}`;
        uuids.set(u.toLowerCase(), v);
      }
      return v;
    },
  );
  out = out.replace(/\b[0-9a-f]{32,128}\b/g, (h) => {
    let v = hexes.get(h);
    if (v === undefined) {
      v = String(hexes.size + 1).padStart(h.length, '0');
      hexes.set(h, v);
    }
    return v;
  });
  const now = new Date();
  out = out.replaceAll(now.toISOString().slice(0, 10), '2026-01-01');
  out = out.replaceAll(
    now.toLocaleDateString('en-US', { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' }),
    'Thursday, January 1, 2026',
  );
  return out;
}

export interface AgentReport {
  agent: string;
  version?: string;
  dir?: string;
  requests: number;
  unrecognised: string[];
  error?: string;
}

function run(
  bin: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
  timeoutMs: number,
): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd, env, stdio: ['ignore', 'ignore', 'ignore'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code ?? -1);
    });
    child.on('error', () => {
      clearTimeout(timer);
      resolve(-1);
    });
  });
}

/** Captures one agent into `<outDir>/<name>-<version>/`. */
export async function captureAgent(
  spec: AgentSpec,
  outDir: string,
  timeoutMs = 120_000,
): Promise<AgentReport> {
  const version = agentVersion(spec.bin);
  if (version === undefined)
    return { agent: spec.name, requests: 0, unrecognised: [], error: `${spec.bin} is not installed` };
  const sim = new Simulator();
  const simUrl = await sim.listen(0);
  const proxy = await recordingProxy(simUrl, spec.toolCall);
  const root = mkdtempSync(join(tmpdir(), `capture-${spec.name}-`));
  const home = join(root, 'home');
  const work = join(root, 'work');
  mkdirSync(home, { recursive: true });
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, 'README.md'), '# demo project\n');
  try {
    const { env, args } = spec.setup(proxy.url, home);
    const base: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      TERM: 'dumb',
      NO_COLOR: '1',
      HTTPS_PROXY: 'http://127.0.0.1:9',
      HTTP_PROXY: 'http://127.0.0.1:9',
      https_proxy: 'http://127.0.0.1:9',
      http_proxy: 'http://127.0.0.1:9',
      NO_PROXY: '127.0.0.1,localhost',
      no_proxy: '127.0.0.1,localhost',
    };
    await run(spec.bin, args, { ...base, ...env }, work, timeoutMs);
    const dir = join(outDir, `${spec.name}-${version}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const unrecognised: string[] = [];
    let n = 0;
    for (const c of proxy.log) {
      if (c.surface === undefined) continue;
      n++;
      const file = `${String(n).padStart(2, '0')}-${c.surface}.json`;
      const text = scrub(JSON.stringify({ agent: spec.name, version, ...c }, null, 1), { work, home });
      writeFileSync(join(dir, file), `${text}\n`);
      for (const u of unrecognisedShapes(c.surface, JSON.parse(text).body)) unrecognised.push(`${file} ${u}`);
    }
    return { agent: spec.name, version, dir, requests: n, unrecognised };
  } finally {
    proxy.server.closeAllConnections();
    await new Promise<void>((r) => proxy.server.close(() => r()));
    await sim.close();
    rmSync(root, { recursive: true, force: true });
  }
}
