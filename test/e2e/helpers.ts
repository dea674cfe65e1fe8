// End-to-end helpers: `portcullis serve` as child processes over a copy of the example policy with
// keys and prices chosen so budget arithmetic is exact, and the simulator as every upstream.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parseAllDocuments } from 'yaml';
import { generateVirtualKey, hashVirtualKey } from '../../src/cli/keys.ts';
import { Simulator, type SimulatorOptions } from '../../src/simulator/server.ts';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';
import { PROVIDER_SECRETS } from '../integration/stack.ts';

export const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
export const CLI = join(REPO_ROOT, 'bin/portcullis.js');

/**
 * A model added to the Anthropic and OpenAI providers of the copy: input is free and output costs
 * 10 USD per million tokens, so a call with max_tokens 1000 answered with 1000 output tokens costs
 * exactly its worst case, 0.01 USD, and settling frees nothing.
 */
export const METERED_MODEL = 'e2e-metered';
/** Priced on input only: 1,000 USD per million input tokens, one output token at most. */
export const INPUT_METERED_MODEL = 'e2e-input-metered';
export const CALL_USD = 0.01;
export const MAX_TOKENS = 1000;

export interface E2eKeySpec {
  id: string;
  budgets?: {
    amountUsd: number;
    period: string;
    name?: string;
    models?: string[];
    mode?: 'strict' | 'expected';
    enforcement?: 'hard' | 'soft';
    alertAt?: number[];
  }[];
  rateLimits?: { requestsPerMinute?: number; tokensPerHour?: number; maxInFlight?: number };
  outputCaps?: { models?: string[]; maxOutputTokens: number }[];
  /** Model globs the key may use (default: the two metered test models). */
  models?: string[];
}

export interface E2ePolicy {
  dir: string;
  keys: Record<string, string>;
}

/**
 * A private copy of policies/ plus keys of team app-dev that may use only the metered model.
 * `redis: true` switches the counter store to Redis at `$PORTCULLIS_REDIS_URL`; `withoutLimitRules`
 * deletes the Rego that denies on budgets and rate limits (a custom policy that never does).
 */
export function e2ePolicy(
  specs: E2eKeySpec[],
  opts: { redis?: boolean; withoutLimitRules?: boolean } = {},
): E2ePolicy {
  const { dir } = examplePolicyCopy();
  for (const provider of ['anthropic', 'openai']) {
    const file = join(dir, 'providers', `${provider}.yaml`);
    const docs = parseAllDocuments(readFileSync(file, 'utf8'));
    if (!Array.isArray(docs)) throw new Error(`cannot parse ${file}`);
    const doc = docs[0];
    const models = doc.getIn(['spec', 'models']) as { add(v: unknown): void };
    models.add(
      doc.createNode({
        id: METERED_MODEL,
        inputPerMTok: 0,
        outputPerMTok: 10,
        cachedInputPerMTok: 0,
        maxOutputTokens: 4096,
      }),
    );
    models.add(
      doc.createNode({
        id: INPUT_METERED_MODEL,
        inputPerMTok: 1000,
        outputPerMTok: 0,
        cachedInputPerMTok: 1000,
        maxOutputTokens: 1,
      }),
    );
    writeFileSync(file, docs.map((d) => String(d)).join(''));
  }
  const keys: Record<string, string> = {};
  const yaml = specs
    .map((spec) => {
      keys[spec.id] = generateVirtualKey();
      const doc = {
        apiVersion: 'portcullis.dev/v1',
        kind: 'VirtualKey',
        metadata: { name: spec.id },
        spec: {
          owner: `${spec.id}@acme.example`,
          team: 'app-dev',
          keyHash: `sha256:${hashVirtualKey(keys[spec.id])}`,
          models: spec.models ?? [METERED_MODEL, INPUT_METERED_MODEL],
          ...(spec.budgets ? { budgets: spec.budgets } : {}),
          ...(spec.rateLimits ? { rateLimits: spec.rateLimits } : {}),
          ...(spec.outputCaps ? { outputCaps: spec.outputCaps } : {}),
        },
      };
      return JSON.stringify(doc);
    })
    .join('\n---\n');
  writeFileSync(join(dir, 'keys', 'e2e.yaml'), `${yaml}\n`);
  if (opts.withoutLimitRules) {
    rmSync(join(dir, 'rego', 'limits.rego'));
    // The tests go with it (they test the example's rules, and share helpers with decision_test.rego):
    // a revision whose own Rego tests fail is not admitted.
    for (const f of readdirSync(join(dir, 'rego')))
      if (f.endsWith('_test.rego')) rmSync(join(dir, 'rego', f));
  }
  if (opts.redis) {
    const file = join(dir, 'gateway.yaml');
    const text = readFileSync(file, 'utf8').replace(
      /limits:\n\s+store: sqlite/,
      'limits:\n    store: redis\n    redisUrl: { fromEnv: PORTCULLIS_REDIS_URL }',
    );
    writeFileSync(file, text);
  }
  return { dir, keys };
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<{ sim: Simulator; url: string }> {
  const sim = new Simulator({ historySize: 0, ...opts });
  const url = await sim.listen();
  return { sim, url };
}

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  dataDir: string;
  output(): string;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Kills gateways a failed test left behind. */
export function killAll(): void {
  for (const c of running) if (c.exitCode === null) c.kill('SIGKILL');
}

export async function startGateway(opts: {
  policyDir: string;
  simUrl: string;
  dataDir?: string;
  env?: Record<string, string>;
}): Promise<GatewayProcess> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'portcullis-e2e-data-'));
  const env = {
    ...process.env,
    ...PROVIDER_SECRETS,
    PORTCULLIS_UPSTREAM_OPENAI: opts.simUrl,
    PORTCULLIS_UPSTREAM_ANTHROPIC: opts.simUrl,
    PORTCULLIS_UPSTREAM_GOOGLE: opts.simUrl,
    ...opts.env,
  };
  const child = spawn(
    NODE,
    [CLI, 'serve', '--policy', opts.policyDir, '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  let out = '';
  child.stdout?.on('data', (c) => {
    out += c;
  });
  child.stderr?.on('data', (c) => {
    out += c;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${out}`)), 60_000);
    const look = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stderr?.on('data', look);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited ${code}: ${out}`));
    });
  });
  return {
    child,
    url,
    dataDir,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      running.delete(child);
      return code;
    },
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read response fields freely
  json(): any;
}

export async function post(
  url: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<Answer> {
  const res = await fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** An Anthropic Messages call on the metered model answered with exactly MAX_TOKENS output tokens. */
export function anthropicCall(
  url: string,
  key: string,
  opts: { stream?: boolean; headers?: Record<string, string> } = {},
) {
  return post(
    url,
    '/v1/messages',
    {
      model: METERED_MODEL,
      max_tokens: MAX_TOKENS,
      stream: opts.stream === true,
      messages: [{ role: 'user', content: 'Say hello.' }],
    },
    {
      'x-api-key': key,
      'anthropic-version': '2023-06-01',
      'x-sim-output-tokens': String(MAX_TOKENS),
      ...opts.headers,
    },
  );
}

/** The same through OpenAI Chat Completions. */
export function openaiCall(url: string, key: string) {
  return post(
    url,
    '/v1/chat/completions',
    { model: METERED_MODEL, max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: 'Say hello.' }] },
    { authorization: `Bearer ${key}`, 'x-sim-output-tokens': String(MAX_TOKENS) },
  );
}

/** `portcullis audit <args>` on a data directory. */
export function auditCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  // Thousands of records as JSON pass spawnSync's default 1 MiB output buffer.
  const r = spawnSync(NODE, [CLI, 'audit', ...args], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.error ? `${r.stderr}${r.error.message}` : r.stderr };
}

/** An MCP client connected to the gateway's `/mcp` endpoint with `key` as its bearer token. */
export async function mcpClient(gatewayUrl: string, key: string, name: string): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${gatewayUrl}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}
