// What the floor allows (#25): the least CPU and memory each part the example policy mandates can
// cost, each done the cheapest correct way with the project's own libraries, measured in isolation.
// The sum is a lower bound on what any gateway enforcing that policy on this runtime pays on top of
// the do-nothing proxy of bench/gateway.ts, which this script also measures in the same run.
//   node bench/floor-parts.ts [--iterations 2000] [--sample-ms 250] [--rounds 7] [--batch 16]
//     [--load-seconds 4] [--load-rounds 5] [--concurrency 64] [--warmup 8]
//     [--keys 10000]   virtual keys added to the policy for the memory parts (the Wasm data)
//     [--no-cpu] [--no-http] [--no-memory]   skip a phase
// Phases:
//   cpu     in this process, thread CPU (process.threadCpuUsage) per call of each part, each sample
//           at least --sample-ms of CPU in chunks of --iterations calls, the parts taking turns
//           within each round so drift hits them alike; median and range over rounds
//   http    child processes under the same load, in alternating rounds, CPU per call from /proc: the
//           simulator's do-nothing proxy (bench/gateway.ts's floor target; also with 8 MB semi-spaces),
//           a node:http server and a fastify server configured as the gateway's, both answering a
//           fixed completion
//   memory  child processes, each holding one mandated part (with `serve`'s runtime settings): the
//           resident set its modules add to an empty process, and what its state adds after that,
//           each after two full GCs (the proxy's own resident set under load is printed by `http`)
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { benchChat } from './support/chat.ts';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '2000' },
    'sample-ms': { type: 'string', default: '250' },
    rounds: { type: 'string', default: '7' },
    batch: { type: 'string', default: '16' },
    'load-seconds': { type: 'string', default: '4' },
    'load-rounds': { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
    warmup: { type: 'string', default: '8' },
    keys: { type: 'string', default: '10000' },
    'no-cpu': { type: 'boolean', default: false },
    'no-http': { type: 'boolean', default: false },
    'no-memory': { type: 'boolean', default: false },
    // Internal: this script as a child process.
    serve: { type: 'string' },
    'memory-part': { type: 'string' },
    upstream: { type: 'string' },
    files: { type: 'string' },
  },
});

const SCRIPT = fileURLToPath(import.meta.url);
const REPO = join(SCRIPT, '..', '..');
const SERVE_ENV = { MALLOC_ARENA_MAX: '2' };
const SERVE_FLAGS = ['--max-semi-space-size=32'];

/** The chat call bench/gateway.ts and bench/memory.ts send (~0.2 KB). */
const BENCH_CHAT = benchChat();

/** A 3.6 KB chat call of a coding agent: a system prompt, a file it read, a question about it. */
function agentChat(): string {
  const file = Array.from(
    { length: 40 },
    (_, i) =>
      `export function step${i}(input: number[]): number { return input.reduce((a, b) => a + b * ${i}, 0); }`,
  ).join('\n');
  const body = {
    model: 'gpt-5-mini',
    max_completion_tokens: 64,
    messages: [
      {
        role: 'system',
        content:
          'You are a coding agent working in a TypeScript repository. Read files before editing them, keep changes small, run the tests after each change and explain what you did in one paragraph.',
      },
      { role: 'user', content: 'Why does step7 return the wrong total for an empty list?' },
      { role: 'assistant', content: 'Let me read src/steps.ts first.' },
      { role: 'user', content: file.slice(0, 3600 - 560) },
    ],
  };
  return JSON.stringify(body);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs: number[], digits = 1) =>
  `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

// ---------------------------------------------------------------------------------------------
// Children
// ---------------------------------------------------------------------------------------------

/** A server answering every call with `FIXED_ANSWER`, on raw node:http or on fastify as the gateway sets it up. */
async function serveFixed(kind: string): Promise<void> {
  const answer = Buffer.from(process.env.FIXED_ANSWER ?? '{}');
  const { createServer } = await import('node:http');
  if (kind === 'node-http') {
    const srv = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        Buffer.concat(chunks);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(answer);
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      process.stdout.write(`listening on http://127.0.0.1:${(srv.address() as { port: number }).port}\n`);
    });
    return;
  }
  // The framework layer as src/gateway/server.ts configures it: a raw-body parser for every
  // content type, an onRequest hook, one route per path, no request logging.
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false, requestIdHeader: false, return503OnClosing: true });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => {
    const chunks: Buffer[] = [];
    let size = 0;
    payload.on('data', (c: Buffer) => {
      size += c.length;
      chunks.push(c);
    });
    payload.on('end', () => done(null, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
  });
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  app.post('/v1/chat/completions', (_request, reply) => {
    reply.header('content-type', 'application/json').send(answer);
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`listening on ${url}\n`);
}

function residentNowMb(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/**
 * One mandated part held in an otherwise empty process (`serve`'s runtime settings). Prints its
 * resident set twice, each after two full GCs (what the exercise left as garbage is not the part's):
 * once its modules are loaded, and once it holds its state (a loaded policy, a store that served
 * calls). Modules are imported here, not at the top, so an `empty` child carries none of them.
 */
async function memoryPart(part: string, files: string): Promise<void> {
  const [wasmFile, dataFile, dataWithKeysFile, compiledDir] = files.split(',');
  const gc = (globalThis as { gc?: () => void }).gc;
  const measure = async () => {
    for (let i = 0; i < 3; i++) await sleep(200);
    gc?.();
    gc?.();
    await sleep(200);
    return { rssMb: residentNowMb(), heapMb: process.memoryUsage().heapTotal / 2 ** 20 };
  };
  let loaded = await measure();
  if (part === 'wasm' || part === 'wasm-keys') {
    const { loadDecider } = await import('../src/policy/wasm-policy.ts');
    loaded = await measure();
    const data = JSON.parse(readFileSync(part === 'wasm' ? dataFile : dataWithKeysFile, 'utf8'));
    const decider = await loadDecider(readFileSync(wasmFile), data);
    const input = JSON.parse(readFileSync(`${wasmFile}.input.json`, 'utf8'));
    for (let i = 0; i < 20_000; i++) decider.evaluate(input);
  } else if (part === 'counters') {
    const { SqliteCounterStore } = await import('../src/limits/sqlite-store.ts');
    const { planLimits } = await import('../src/limits/planner.ts');
    loaded = await measure();
    const dir = mkdtempSync(join(tmpdir(), 'floor-mem-'));
    const store = new SqliteCounterStore({ path: join(dir, 'limits.sqlite') });
    const plan = planLimits({
      key: {
        id: 'alice-principal',
        keyHash: `sha256:${'ab'.repeat(32)}`,
        budgets: [{ period: 'monthly', amountUsd: 1e9 }],
      },
      teams: [
        { id: 'platform', budgets: [{ period: 'monthly', amountUsd: 1e9 }] },
        { id: 'acme', budgets: [{ period: 'monthly', amountUsd: 1e9 }] },
      ],
      budgetTimezone: 'America/New_York',
      worstCase: { costMicroUsd: 200, tokens: 300 },
      now: new Date(),
    });
    for (let turn = 0; turn < 10_000; turn++) {
      const settles: Promise<void>[] = [];
      for (let j = 0; j < 16; j++) {
        const r = store.reserve({ requestId: `${turn}-${j}`, counters: plan.counters, now: new Date() });
        if (r.reservationId) settles.push(store.settle(r.reservationId, { costMicroUsd: 100, tokens: 200 }));
      }
      await Promise.all(settles);
    }
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  } else if (part === 'audit-db') {
    const { AuditStore } = await import('../src/audit/store.ts');
    loaded = await measure();
    const dir = mkdtempSync(join(tmpdir(), 'floor-mem-'));
    const store = new AuditStore(join(dir, 'audit.db'));
    const json = readFileSync(`${wasmFile}.record.json`, 'utf8');
    for (let b = 0; b < 200; b++) store.appendJson(Array.from({ length: 500 }, () => json));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  } else if (part === 'worker-js' || part === 'worker-ts') {
    const { Worker } = await import('node:worker_threads');
    loaded = await measure();
    const dir = mkdtempSync(join(tmpdir(), 'floor-mem-'));
    const file = join(dir, part === 'worker-ts' ? 'idle.ts' : 'idle.mjs');
    const annotation = part === 'worker-ts' ? ': number' : '';
    writeFileSync(
      file,
      `import { parentPort } from 'node:worker_threads';\nconst n${annotation} = 1;\nparentPort.postMessage(n);\nsetInterval(() => {}, 1e9);\n`,
    );
    const worker = new Worker(file);
    await new Promise((resolve) => worker.once('message', resolve));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  } else if (part === 'code') {
    // Every module `serve` loads, loaded and not started: what holding the gateway's code costs.
    await import('../src/cli/serve.ts');
  } else if (part === 'code-js') {
    // The same modules compiled to JavaScript (`npm pack`'s dist/): no type stripping.
    await import(pathToFileURL(join(compiledDir, 'cli', 'serve.js')).href);
  } else if (part !== 'empty') {
    throw new Error(`unknown memory part ${part}`);
  }
  const held = await measure();
  // The code parts hold nothing but their modules.
  if (part.startsWith('code')) loaded = held;
  process.stdout.write(`${JSON.stringify({ part, loaded, held })}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------------------------

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
});

function startChild(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  nodeArgs: string[] = [],
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...nodeArgs, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (c: Buffer) => {
      text += c;
      const m = /listening on (http:\/\/\S+)/.exec(text);
      if (m) resolve({ child, url: m[1] });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`${args.join(' ')} exited with ${code}: ${text.slice(-2000)}`)),
    );
  });
}

async function main(): Promise<void> {
  const { undici, examplePolicyCopy, liftRateLimits, addGeneratedKeys, cpuSeconds, residentMb } =
    await parentModules();
  console.log(
    `What the floor allows — Node ${process.version}, ${availableParallelism()} CPUs, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const sim = await startChild([join(REPO, 'bin/portcullis.js'), 'simulator', '--port', '0']);
  const simPool = new undici.Pool(sim.url, { connections: 1 });
  const answerTo = async (body: string) => {
    const res = await simPool.request({
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sim' },
      body,
    });
    return res.body.text();
  };
  const answers = { bench: await answerTo(BENCH_CHAT), agent: await answerTo(agentChat()) };
  await simPool.close();

  const { dir, keys } = examplePolicyCopy();
  liftRateLimits(dir);
  const work = mkdtempSync(join(tmpdir(), 'floor-parts-'));
  process.on('exit', () => {
    rmSync(work, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  let floorUs = Number.NaN;
  if (!values['no-http'])
    floorUs = await httpPhase(sim.url, answers.bench, keys.principal, cpuSeconds, residentMb, undici);
  const parts = await buildParts(dir, keys.principal, answers, work);
  if (!values['no-cpu']) await cpuPhase(parts, floorUs);
  await parts.close();
  if (!values['no-memory']) {
    addGeneratedKeys(dir, Number(values.keys));
    await memoryPhase(dir, parts, work);
  }
  for (const c of children) c.kill('SIGTERM');
}

async function parentModules() {
  const undici = await import('undici');
  const { examplePolicyCopy } = await import('../test/fixtures/keys.ts');
  const { addGeneratedKeys, liftRateLimits } = await import('./support/example-policy.ts');
  const { cpuSeconds, residentMb } = await import('./support/processes.ts');
  return { undici, examplePolicyCopy, liftRateLimits, addGeneratedKeys, cpuSeconds, residentMb };
}

// ---------------------------------------------------------------------------------------------
// http: the floor and the framework layer, in alternating rounds
// ---------------------------------------------------------------------------------------------

async function httpPhase(
  simUrl: string,
  answer: string,
  _key: string,
  cpuSeconds: (c: ChildProcess) => number | undefined,
  residentMb: (c: ChildProcess) => number[],
  undici: typeof import('undici'),
): Promise<number> {
  const env = { ...process.env, ...SERVE_ENV, FIXED_ANSWER: answer };
  const targets = [
    {
      name: 'do-nothing proxy (bench/gateway.ts floor)',
      ...(await startChild([join(REPO, 'bench/gateway.ts'), '--proxy-only', simUrl], env, SERVE_FLAGS)),
    },
    {
      name: '  the same with --max-semi-space-size=8',
      ...(await startChild([join(REPO, 'bench/gateway.ts'), '--proxy-only', simUrl], env, [
        '--max-semi-space-size=8',
      ])),
    },
    {
      name: 'node:http, fixed answer',
      ...(await startChild([SCRIPT, '--serve', 'node-http'], env, SERVE_FLAGS)),
    },
    {
      name: 'fastify, fixed answer',
      ...(await startChild([SCRIPT, '--serve', 'fastify'], env, SERVE_FLAGS)),
    },
  ];
  const concurrency = Number(values.concurrency);
  const load = async (url: string, seconds: number) => {
    const pool = new undici.Pool(url, { connections: concurrency });
    const headers = { 'content-type': 'application/json', authorization: 'Bearer sim-key' };
    let done = 0;
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const res = await pool.request({
            method: 'POST',
            path: '/v1/chat/completions',
            headers,
            body: BENCH_CHAT,
          });
          await res.body.arrayBuffer();
          if (res.statusCode === 200) done++;
        }
      }),
    );
    await pool.close();
    return done;
  };
  const seconds = Number(values['load-seconds']);
  const perCall = new Map<string, number[]>();
  const rps = new Map<string, number[]>();
  for (const t of targets) await load(t.url, Number(values.warmup));
  for (let round = 0; round < Number(values['load-rounds']); round++) {
    for (const t of targets) {
      await load(t.url, 1);
      const c0 = cpuSeconds(t.child) ?? Number.NaN;
      const t0 = performance.now();
      const done = await load(t.url, seconds);
      const c1 = cpuSeconds(t.child) ?? Number.NaN;
      perCall.set(t.name, [...(perCall.get(t.name) ?? []), ((c1 - c0) / done) * 1e6]);
      rps.set(t.name, [...(rps.get(t.name) ?? []), done / ((performance.now() - t0) / 1000)]);
    }
  }
  console.log(
    `\nHTTP layer: ${concurrency} connections, ${values['load-rounds']} alternating rounds of ${seconds} s (after ${values.warmup} s of warm-up each), server CPU per call from /proc (all threads), resident set after the load`,
  );
  for (const t of targets) {
    const xs = perCall.get(t.name)!;
    console.log(
      `  ${t.name.padEnd(44)} ${median(xs).toFixed(1).padStart(6)} µs/call (${range(xs)})  ${median(rps.get(t.name)!).toFixed(0)} req/s  resident ${residentMb(
        t.child,
      )
        .reduce((a, b) => a + b, 0)
        .toFixed(0)} MB`,
    );
  }
  const fastify = perCall.get(targets[3].name)!;
  const nodeHttp = perCall.get(targets[2].name)!;
  const diff = fastify.map((f, i) => f - nodeHttp[i]);
  console.log(
    `  fastify over node:http, per round: median ${median(diff).toFixed(1)} µs/call (${range(diff)})`,
  );
  for (const t of targets) t.child.kill('SIGTERM');
  return median(perCall.get(targets[0].name)!);
}

// ---------------------------------------------------------------------------------------------
// The parts, built from the example policy as `serve` builds them
// ---------------------------------------------------------------------------------------------

interface OpaParseExports {
  opa_heap_ptr_get(): number;
  opa_heap_ptr_set(addr: number): void;
  opa_json_parse(addr: number, len: number): number;
}

interface Part {
  name: string;
  /** Counted in the lower bound (the others are shown for comparison). */
  mandated: boolean;
  /** Runs `n` calls' worth of the part. */
  run(n: number): void | Promise<void>;
}

async function buildParts(
  dir: string,
  principalKey: string,
  answers: { bench: string; agent: string },
  work: string,
) {
  const { hash, randomUUID } = await import('node:crypto');
  const { closeSync, openSync, writeSync } = await import('node:fs');
  const { checkPolicy } = await import('../src/policy/build-snapshot.ts');
  const { resolvePolicy, dataDocument } = await import('../src/policy/resolve.ts');
  const { compileRego, readRegoSources } = await import('../src/policy/compile.ts');
  const { describeRevision } = await import('../src/policy/revision.ts');
  const { loadDecider } = await import('../src/policy/wasm-policy.ts');
  const { loadMeteredEvaluator } = await import('../src/policy/metered-evaluator.ts');
  const { hostBuiltins, WASM_MAX_PAGES } = await import('../src/policy/wasm-builtins.ts');
  const { loadPolicy } = await import('@open-policy-agent/opa-wasm');
  const { regoMayReadKeys } = await import('../src/policy/data-needs.ts');
  const { decisionInput } = await import('../src/gateway/decision-input.ts');
  const { authenticate } = await import('../src/gateway/authenticate.ts');
  const { priceFor } = await import('../src/providers/pricing.ts');
  const { adapters } = await import('../src/providers/index.ts');
  const { trailingObject } = await import('../src/providers/tail.ts');
  const { compileChain, scanRequest, scanResponse } = await import('../src/guardrails/index.ts');
  const limits = await import('../src/limits/index.ts');
  const { keyLimitPlan } = await import('../src/gateway/plugins/limits.ts');
  const { normalizeRecord, chainHash, GENESIS_HASH } = await import('../src/audit/record.ts');
  const { AuditStore, indexedColumns } = await import('../src/audit/store.ts');

  const { documents, problems } = checkPolicy(dir);
  if (problems.length > 0) throw new Error(`example policy invalid: ${JSON.stringify(problems[0])}`);
  const source = await describeRevision(dir);
  const policy = resolvePolicy(documents, process.env);
  const rego = readRegoSources(dir);
  const data = dataDocument(policy, source.revision, { withKeys: regoMayReadKeys(rego) });
  const { wasm } = await compileRego(rego, { revision: source.revision });
  const decider = await loadDecider(wasm, data);
  const metered = await loadMeteredEvaluator(wasm, Buffer.from(JSON.stringify(data)), 50);
  if ('unmeterable' in metered)
    throw new Error(`the example policy cannot be metered: ${metered.unmeterable}`);
  const utf8 = new TextDecoder();
  // OPA's own JSON parser on the input, the heap reset after each parse.
  const parser = await loadPolicy(wasm, { initial: 16, maximum: WASM_MAX_PAGES }, hostBuiltins);
  parser.setData(data as object);
  const opa = (parser.wasmInstance as unknown as { exports: OpaParseExports }).exports;
  const parseInOpa = (json: string) => {
    const at = opa.opa_heap_ptr_get();
    const { written } = new TextEncoder().encodeInto(json, new Uint8Array(parser.mem.buffer, at));
    opa.opa_heap_ptr_set(at + written);
    const value = opa.opa_json_parse(at, written);
    opa.opa_heap_ptr_set(at);
    return value;
  };

  const key = policy.keysByHash.get(hash('sha256', principalKey, 'hex'));
  if (key === undefined) throw new Error('the principal key is not in the policy');
  const provider = [...policy.providers.values()].find(
    (p) => p.api === 'openai' && priceFor(p, 'gpt-5-mini'),
  );
  if (provider === undefined) throw new Error('no provider prices gpt-5-mini');
  const price = priceFor(provider, 'gpt-5-mini')!;
  const chainName = key.guardrailChain ?? policy.gateway.defaultGuardrailChain;
  const chainDoc = policy.documents.get('GuardrailChain')?.get(chainName ?? '');
  if (chainDoc === undefined) throw new Error(`no guardrail chain ${chainName}`);
  const chain = compileChain(chainDoc as never);
  const coldChain = compileChain(chainDoc as never, { cache: false });

  const store = new limits.SqliteCounterStore({ path: join(work, 'limits.sqlite') });
  const plan = keyLimitPlan(policy, key, new Date());
  const budgets = plan.facts.filter((f) => f.type === 'budget').length;

  const bodies = { bench: BENCH_CHAT, agent: agentChat() };
  const auditStore = new AuditStore(join(work, 'audit.db'));
  const journalFd = openSync(join(work, 'journal'), 'a');
  const batch = Math.max(1, Number(values.batch));

  /** Everything a part needs about one body: the parsed request, the decision input, the answer. */
  const perBody = (which: 'bench' | 'agent') => {
    const text = bodies[which];
    const buffer = Buffer.from(text);
    const parsed = JSON.parse(text);
    const answerText = answers[which];
    const answer = JSON.parse(answerText);
    const sizes = {
      bodyBytes: buffer.length,
      estimatedInputTokens: Math.ceil(buffer.length / 4),
      maxOutputTokens: 64,
    };
    const cost = {
      costMicroUsd: limits.worstCaseCostMicroUsd(price, {
        estimatedInputTokens: buffer.length,
        maxOutputTokens: 64,
      }),
      tokens: buffer.length + 64,
      model: 'gpt-5-mini',
      provider: provider.id,
    };
    const reserved = store.reserve({
      requestId: randomUUID(),
      counters: limits.withWorstCase(plan, cost, Date.now()).counters,
      now: new Date(),
    });
    const usage = limits.usageFacts(limits.withWorstCase(plan, cost, Date.now()), reserved);
    void store.release(reserved.reservationId ?? '');
    const inputOf = () =>
      decisionInput({
        surface: 'openai.chat',
        provider: provider.id,
        model: 'gpt-5-mini',
        pricedModel: price.id,
        stream: false,
        tools: [],
        sizes,
        auth: { status: 'ok', enforced: true },
        key,
        userAgent: 'undici',
        usage,
        findings: [],
        nowMs: Date.now(),
      });
    const decision = decider.evaluate(inputOf());
    if (!decision.allow) throw new Error(`the decision denies the call: ${decision.reasons.join('; ')}`);
    const record = () => ({
      requestId: randomUUID(),
      time: new Date().toISOString(),
      keyId: key.id,
      owner: key.owner,
      team: key.team,
      userAgent: 'undici',
      surface: 'openai.chat' as const,
      provider: provider.id,
      model: 'gpt-5-mini',
      stream: false,
      tokens: { input: answer.usage.prompt_tokens, output: answer.usage.completion_tokens, cached: 0 },
      costUsd: 0.000123,
      outcome: 'allowed' as const,
      decision: { allow: true, status: 200, code: decision.code, reasons: decision.reasons },
      findings: [],
      tools: { stripped: [], deniedCalls: [] },
      latency: { totalMs: 1.234, upstreamMs: 0.456, gatewayMs: 0.321 },
      policyRevision: source.revision,
      instance: 'floor',
      facts: { tools: [], sizes, authStatus: 'ok' as const },
      budget: { reservedUsd: 0.000456 },
    });
    const recordJson = JSON.stringify(normalizeRecord(record()));
    return { text, buffer, parsed, answerText, answer, cost, inputOf, record, recordJson };
  };
  const b = { bench: perBody('bench'), agent: perBody('agent') };
  writeFileSync(join(work, 'policy.wasm'), wasm);
  writeFileSync(join(work, 'policy.wasm.input.json'), JSON.stringify(b.bench.inputOf()));
  writeFileSync(join(work, 'policy.wasm.record.json'), b.bench.recordJson);

  const sink = { value: undefined as unknown };
  let prevHash = GENESIS_HASH;
  const partsFor = (which: 'bench' | 'agent'): Part[] => {
    const x = b[which];
    return [
      {
        name: 'request body: Buffer → JSON.parse',
        mandated: true,
        run(n) {
          for (let i = 0; i < n; i++) sink.value = JSON.parse(x.buffer.toString('utf8'));
        },
      },
      {
        name: 'key: SHA-256 of the bearer + Map lookup',
        mandated: true,
        run(n) {
          for (let i = 0; i < n; i++) sink.value = policy.keysByHash.get(hash('sha256', principalKey, 'hex'));
        },
      },
      {
        name: "  (the project's authenticate(): + constant-time compare)",
        mandated: false,
        run(n) {
          const snap = { keysByHash: policy.keysByHash } as never;
          for (let i = 0; i < n; i++) sink.value = authenticate(snap, principalKey, Date.now());
        },
      },
      {
        name: 'decision: input built + Rego in OPA Wasm (in-process)',
        mandated: true,
        run(n) {
          for (let i = 0; i < n; i++) sink.value = decider.evaluate(x.inputOf());
        },
      },
      {
        name: '  (Wasm evaluation alone, input prebuilt)',
        mandated: false,
        run(n) {
          const input = x.inputOf();
          for (let i = 0; i < n; i++) sink.value = decider.evaluate(input);
        },
      },
      {
        name: '  (of which OPA parsing the input: opa_json_parse)',
        mandated: false,
        run(n) {
          const json = JSON.stringify(x.inputOf());
          for (let i = 0; i < n; i++) sink.value = parseInOpa(json);
        },
      },
      {
        name: '  (metered, as on the event loop since #17; result parsed)',
        mandated: false,
        run(n) {
          for (let i = 0; i < n; i++) {
            sink.value = JSON.parse(utf8.decode(metered.evaluate(JSON.stringify(x.inputOf()))));
          }
        },
      },
      {
        name: `limits: ${budgets} budgets reserve + settle (${batch} per turn)`,
        mandated: true,
        async run(n) {
          for (let done = 0; done < n; done += batch) {
            const settles: Promise<void>[] = [];
            for (let j = 0; j < batch; j++) {
              const planned = limits.withWorstCase(plan, x.cost, Date.now());
              const r = store.reserve({
                requestId: randomUUID(),
                counters: planned.counters,
                now: new Date(),
              });
              sink.value = limits.usageFacts(planned, r);
              settles.push(store.settle(r.reservationId!, { costMicroUsd: 123, tokens: 345 }));
            }
            await Promise.all(settles);
          }
        },
      },
      {
        name: '  (limits, one call per turn)',
        mandated: false,
        async run(n) {
          for (let i = 0; i < n; i++) {
            const planned = limits.withWorstCase(plan, x.cost, Date.now());
            const r = store.reserve({ requestId: randomUUID(), counters: planned.counters, now: new Date() });
            sink.value = limits.usageFacts(planned, r);
            await store.settle(r.reservationId!, { costMicroUsd: 123, tokens: 345 });
          }
        },
      },
      {
        name: 'guardrails: request scan, default chain (cached)',
        mandated: true,
        run(n) {
          for (let i = 0; i < n; i++) sink.value = scanRequest(chain, 'openai.chat', x.parsed);
        },
      },
      {
        name: '  (request scan, no cache: a body never seen)',
        mandated: false,
        run(n) {
          for (let i = 0; i < n; i++) sink.value = scanRequest(coldChain, 'openai.chat', x.parsed);
        },
      },
      {
        name: 'guardrails: answer parsed + response scan',
        mandated: true,
        run(n) {
          for (let i = 0; i < n; i++)
            sink.value = scanResponse(chain, 'openai.chat', JSON.parse(x.answerText));
        },
      },
      {
        name: 'usage read from the parsed answer',
        mandated: true,
        run(n) {
          for (let i = 0; i < n; i++) sink.value = adapters.openai.usageFromJson('openai.chat', x.answer);
        },
      },
      {
        name: '  (usage from the answer text, no full parse)',
        mandated: false,
        run(n) {
          for (let i = 0; i < n; i++) sink.value = trailingObject(x.answerText, 'usage');
        },
      },
      {
        name: 'audit: record built → canonical JSON',
        mandated: true,
        run(n) {
          for (let i = 0; i < n; i++) sink.value = JSON.stringify(normalizeRecord(x.record()));
        },
      },
      {
        name: `audit: journal append (one write(2) per ${batch})`,
        mandated: true,
        run(n) {
          const line = `P ${x.recordJson}\n`;
          for (let done = 0; done < n; done += batch) {
            const lines: string[] = [];
            for (let j = 0; j < batch; j++) lines.push(line);
            writeSync(journalFd, lines.join(''));
          }
        },
      },
      {
        name: '  (SHA-256 chain hash alone)',
        mandated: false,
        run(n) {
          for (let i = 0; i < n; i++) prevHash = chainHash(prevHash, x.recordJson);
        },
      },
      {
        name: '  (of which the record parsed back for its indexed columns)',
        mandated: false,
        run(n) {
          for (let i = 0; i < n; i++) sink.value = indexedColumns(JSON.parse(x.recordJson));
        },
      },
      {
        name: 'audit: chain hash + SQLite insert (500 per commit)',
        mandated: true,
        run(n) {
          for (let done = 0; done < n; done += 500) {
            auditStore.appendJson(Array.from({ length: Math.min(500, n - done) }, () => x.recordJson));
          }
        },
      },
    ];
  };
  const close = async () => {
    closeSync(journalFd);
    auditStore.close();
    await store.close();
  };
  return { bench: partsFor('bench'), agent: partsFor('agent'), close, data, policy, regoMayReadKeys, rego };
}

// ---------------------------------------------------------------------------------------------
// cpu
// ---------------------------------------------------------------------------------------------

async function cpuPhase(parts: Awaited<ReturnType<typeof buildParts>>, floorUs: number): Promise<void> {
  const n = Number(values.iterations);
  const rounds = Number(values.rounds);
  const sampleUs = Number(values['sample-ms']) * 1000;
  const results = new Map<string, number[]>();
  const groups = [
    ['bench', parts.bench],
    ['agent', parts.agent],
  ] as const;
  // Warm-up: every part runs until V8 has optimised it.
  for (const [, list] of groups) for (const p of list) await p.run(n);
  for (let round = 0; round < rounds; round++) {
    for (const [which, list] of groups) {
      for (const p of list) {
        // Thread CPU time is counted in scheduler ticks here: each sample runs for at least
        // --sample-ms of it, so a tick is under 2 % of the sample.
        const t0 = process.threadCpuUsage();
        let calls = 0;
        let used = 0;
        while (used < sampleUs) {
          await p.run(n);
          calls += n;
          const t = process.threadCpuUsage(t0);
          used = t.user + t.system;
        }
        const id = `${which}\0${p.name}`;
        results.set(id, [...(results.get(id) ?? []), used / calls]);
      }
    }
  }
  console.log(
    `\nCPU per call of each mandated part, in-process (event-loop thread CPU, ≥ ${values['sample-ms']} ms per sample × ${rounds} rounds, parts in turn; median, range):`,
  );
  console.log(`  ${'part'.padEnd(58)} ${'bench body (0.2 KB)'.padEnd(22)} 3.6 KB agent body`);
  const sums = { bench: [] as number[], agent: [] as number[] };
  for (const p of parts.bench) {
    const cells = groups.map(([which]) => {
      const xs = results.get(`${which}\0${p.name}`)!;
      return `${median(xs).toFixed(2).padStart(6)} µs (${range(xs, 2)})`;
    });
    console.log(`  ${p.name.padEnd(58)} ${cells[0].padEnd(22)} ${cells[1]}`);
  }
  for (const [which, list] of groups) {
    for (let round = 0; round < rounds; round++) {
      let total = 0;
      for (const p of list) if (p.mandated) total += results.get(`${which}\0${p.name}`)![round];
      sums[which].push(total);
    }
  }
  console.log(
    `  ${'sum of the mandated parts'.padEnd(58)} ${`${median(sums.bench).toFixed(1)} µs (${range(sums.bench)})`.padEnd(22)} ${median(sums.agent).toFixed(1)} µs (${range(sums.agent)})`,
  );
  if (!Number.isNaN(floorUs)) {
    const bound = floorUs + median(sums.bench);
    console.log(
      `\n  floor proxy ${floorUs.toFixed(1)} µs + parts ${median(sums.bench).toFixed(1)} µs = ${bound.toFixed(1)} µs per call at least, ${(bound / floorUs).toFixed(2)}× the floor (target ≤ 1.5×: the parts may add at most ${(0.5 * floorUs).toFixed(1)} µs)`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// memory
// ---------------------------------------------------------------------------------------------

async function memoryPhase(
  dir: string,
  parts: Awaited<ReturnType<typeof buildParts>>,
  work: string,
): Promise<void> {
  const { checkPolicy } = await import('../src/policy/build-snapshot.ts');
  const { resolvePolicy, dataDocument } = await import('../src/policy/resolve.ts');
  const { documents } = checkPolicy(dir);
  const big = resolvePolicy(documents, process.env);
  const keyCount = big.keys.size;
  const revision = 'floor';
  writeFileSync(
    join(work, 'data.json'),
    JSON.stringify(dataDocument(big, revision, { withKeys: parts.regoMayReadKeys(parts.rego) })),
  );
  writeFileSync(
    join(work, 'data-keys.json'),
    JSON.stringify(dataDocument(big, revision, { withKeys: true })),
  );
  // The modules compiled as `npm pack` compiles them, beside schemas/ as dist/ is (removed after).
  const compiled = join(REPO, '.floor-parts-dist');
  rmSync(compiled, { recursive: true, force: true });
  // Left behind, the compiled tree would be scanned by tests that walk the checkout.
  process.on('exit', () => rmSync(compiled, { recursive: true, force: true }));
  const tsc = spawnSync(
    process.execPath,
    [
      join(REPO, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(REPO, 'tsconfig.build.json'),
      '--outDir',
      compiled,
    ],
    { stdio: 'inherit' },
  );
  if (tsc.status !== 0) throw new Error('tsc -p tsconfig.build.json failed');
  const files = [
    join(work, 'policy.wasm'),
    join(work, 'data.json'),
    join(work, 'data-keys.json'),
    compiled,
  ].join(',');
  interface Sample {
    rssMb: number;
    heapMb: number;
  }
  const run = (part: string) =>
    new Promise<{ loaded: Sample; held: Sample }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [...SERVE_FLAGS, '--expose-gc', SCRIPT, '--memory-part', part, '--files', files],
        { env: { ...process.env, ...SERVE_ENV }, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.on('data', (c) => {
        out += c;
      });
      child.once('exit', (code) => {
        const m = /\{"part".*\}/.exec(out);
        if (code === 0 && m) resolve(JSON.parse(m[0]));
        else reject(new Error(`memory part ${part} exited with ${code}: ${out}`));
      });
    });
  const rounds = 3;
  const rows: [string, string][] = [
    ['empty', 'an empty process (.ts entry, serve runtime settings)'],
    ['wasm', `OPA Wasm instance, ${keyCount}-key policy's data (as the example Rego needs it)`],
    ['wasm-keys', '  (the same with every key in the Wasm data)'],
    ['counters', 'SQLite counter store after 160,000 reserves + settles'],
    ['audit-db', 'audit SQLite database after 100,000 records appended'],
    ['worker-js', 'one idle worker thread (.mjs)'],
    ['worker-ts', 'one idle worker thread (.ts: type stripping)'],
    ['code', "the gateway's modules (import of src/cli/serve.ts, not started)"],
    ['code-js', '  (the same compiled to JavaScript, as dist/ runs them)'],
  ];
  const samples = rows.map(() => [] as { loaded: Sample; held: Sample }[]);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < rows.length; i++) samples[i].push(await run(rows[i][0]));
  }
  rmSync(compiled, { recursive: true, force: true });
  console.log(
    `\nResident set of each mandated part alone, after two full GCs (MB, median of ${rounds} rounds): its modules loaded over an empty process, and the state it then holds over that; V8 heap committed of the main thread in brackets`,
  );
  const empty = median(samples[0].map((x) => x.held.rssMb));
  const emptyHeap = median(samples[0].map((x) => x.held.heapMb));
  const f = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;
  console.log(`  ${'part'.padEnd(72)} ${'modules'.padStart(16)} ${'state'.padStart(16)}`);
  for (let i = 0; i < rows.length; i++) {
    const loaded = median(samples[i].map((x) => x.loaded.rssMb));
    const held = median(samples[i].map((x) => x.held.rssMb));
    const loadedHeap = median(samples[i].map((x) => x.loaded.heapMb));
    const heldHeap = median(samples[i].map((x) => x.held.heapMb));
    const cells =
      i === 0
        ? `${`${empty.toFixed(1)} [${emptyHeap.toFixed(1)}]`.padStart(16)}`
        : `${`${f(loaded - empty)} [${f(loadedHeap - emptyHeap)}]`.padStart(16)} ${`${f(held - loaded)} [${f(heldHeap - loadedHeap)}]`.padStart(16)}`;
    console.log(`  ${rows[i][1].padEnd(72)} ${cells}`);
  }
}

if (values.serve !== undefined) await serveFixed(values.serve);
else if (values['memory-part'] !== undefined) await memoryPart(values['memory-part'], values.files ?? '');
else
  await main()
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    });
