// Gateway overhead, production-like: the simulator and `portcullis serve` (example policy, Rego in Wasm)
// run as child processes; this process drives load with undici and compares each number, in the same
// run, with the simulator called directly and through a do-nothing Node proxy (node:http + undici, no
// auth, no policy, no accounting) — the floor any Node gateway pays on this machine.
//   node_modules/.bin/node bench/gateway.ts [--seconds 5] [--concurrency 64] [--requests 4000]
//     [--rounds 1]          throughput targets take turns this many times; medians are reported
//     [--throughput-stream] drive the throughput phase with streamed Anthropic calls instead of chat
//     [--stream-tokens N]   the simulator's answer length in tokens (default 32: a 15-event stream;
//                           agents' answers run to thousands); chat answers stay capped at 64
//     [--profile-dir DIR]   write the gateway's V8 CPU profile (.cpuprofile) into DIR
//     [--observability]     throughput of three gateways taking turns: per-call metrics and tracing
//                           off, metrics on, metrics on + tracing sampled at 100 % (OTLP to a sink
//                           process that discards); use with --rounds to alternate them
//     [--workers 1,2]       one gateway per count (`serve --workers N`), all in the same rounds;
//                           CPU and memory are summed over each one's processes (default 1)
//     [--keys N]            add N generated virtual keys to the policy (memory with a large policy)
//     [--no-latency]        skip the one-connection phases (throughput and memory only)
//     [--against NAME@DIR]  also serve the same policy from another checkout (say, the commit an
//                           issue was filed at, with its own node_modules installed), compared with
//                           this one in the same rounds: throughput, and one-connection latency
//                           alternated in batches with this one (repeatable)
//     [--warmup 10]         seconds of load each target gets before its first measured round (later
//                           rounds: 1 s). V8 keeps compiling the gateway's code for 5-10 s of load:
//                           after 1 s its background threads took 66-90 µs per call, after 10 s 2-14
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { REPO_ROOT } from '../src/toolchain/tools.ts';
import { examplePolicyCopy } from '../test/fixtures/keys.ts';
import { benchChat } from './support/chat.ts';
import { addGeneratedKeys, liftRateLimits } from './support/example-policy.ts';
import { cpuSeconds, processTree, residentMb } from './support/processes.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
    requests: { type: 'string', default: '4000' },
    'log-level': { type: 'string', default: 'warn' },
    'proxy-only': { type: 'string' },
    'profile-dir': { type: 'string' },
    rounds: { type: 'string', default: '1' },
    'throughput-stream': { type: 'boolean', default: false },
    'stream-tokens': { type: 'string', default: '32' },
    observability: { type: 'boolean', default: false },
    'otlp-sink': { type: 'boolean', default: false },
    workers: { type: 'string', default: '1' },
    keys: { type: 'string', default: '0' },
    'no-latency': { type: 'boolean', default: false },
    warmup: { type: 'string', default: '10' },
    against: { type: 'string', multiple: true, default: [] },
  },
});
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const REQUESTS = Number(values.requests);
const ROUNDS = Math.max(1, Number(values.rounds));
const STREAMED = values['throughput-stream'];
const STREAM_TOKENS = Number(values['stream-tokens']);
const WORKERS = values.workers.split(',').map((w) => Math.max(1, Number(w)));
const KEYS = Number(values.keys);
const WARMUP = Math.max(1, Number(values.warmup));

const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const CLI = join(REPO_ROOT, 'bin/portcullis.js');
const children: ChildProcess[] = [];

interface Child {
  child: ChildProcess;
  url: string;
}

function start(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  stream: 'stdout' | 'stderr',
  nodeArgs: string[] = [],
): Promise<Child> {
  const child = spawn(NODE, [...nodeArgs, script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let text = '';
    child[stream]!.on('data', (c) => {
      text += c;
      const m = /listening on (http:\/\/\S+)/.exec(text);
      if (m) resolve({ child, url: m[1] });
    });
    child.stderr!.on('data', (c) => {
      if (stream === 'stdout') text += c;
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}: ${text}`)));
  });
}

/** The floor: forward to `upstream` with no logic at all. */
function minimalProxy(upstream: string): void {
  const pool = new Pool(upstream, { connections: 256 });
  const srv = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      pool.dispatch(
        {
          method: 'POST',
          path: req.url ?? '/',
          headers: { 'content-type': 'application/json', authorization: 'Bearer upstream-key' },
          body: Buffer.concat(chunks),
        },
        {
          onRequestStart() {},
          onResponseStart(_c, status, headers) {
            res.writeHead(status, { 'content-type': String(headers['content-type']) });
          },
          onResponseData(_c, chunk) {
            res.write(chunk);
          },
          onResponseEnd() {
            res.end();
          },
          onResponseError(_c, err) {
            res.destroy(err);
          },
        },
      );
    });
  });
  srv.listen(0, '127.0.0.1', () => {
    const a = srv.address() as { port: number };
    process.stdout.write(`listening on http://127.0.0.1:${a.port}\n`);
  });
}

function stopAll(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
}
process.on('exit', stopAll);

interface Target {
  name: string;
  pool: Pool;
  headers: Record<string, string>;
}

const CHAT = benchChat();
const STREAM = JSON.stringify({
  model: 'claude-haiku-4-5',
  max_tokens: Math.max(64, STREAM_TOKENS * 2),
  stream: true,
  messages: [{ role: 'user', content: 'Say hello in a few words.' }],
});

async function once(t: Target, path: string, body: string): Promise<number> {
  const t0 = performance.now();
  const res = await t.pool.request({ method: 'POST', path, headers: t.headers, body });
  await res.body.arrayBuffer();
  if (res.statusCode !== 200) throw new Error(`${t.name}: HTTP ${res.statusCode}`);
  return performance.now() - t0;
}

async function firstByte(t: Target): Promise<number> {
  const t0 = performance.now();
  const res = await t.pool.request({
    method: 'POST',
    path: '/v1/messages',
    headers: t.headers,
    body: STREAM,
  });
  let ttfb = 0;
  for await (const _ of res.body) {
    if (ttfb === 0) ttfb = performance.now() - t0;
  }
  if (res.statusCode !== 200) throw new Error(`${t.name}: HTTP ${res.statusCode}`);
  return ttfb;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;

/** Sequential calls at one connection, alternating targets in small batches so drift hits both alike. */
async function latency(a: Target, b: Target, fn: (t: Target) => Promise<number>, n: number) {
  const ra: number[] = [];
  const rb: number[] = [];
  for (let i = 0; i < Math.min(500, n / 4); i++) {
    await fn(a);
    await fn(b);
  }
  const batch = 50;
  for (let i = 0; i < n; i += batch) {
    for (let j = 0; j < batch; j++) ra.push(await fn(a));
    for (let j = 0; j < batch; j++) rb.push(await fn(b));
  }
  ra.sort((x, y) => x - y);
  rb.sort((x, y) => x - y);
  return { a: { p50: pct(ra, 50), p99: pct(ra, 99) }, b: { p50: pct(rb, 50), p99: pct(rb, 99) } };
}

async function throughput(t: Target, seconds: number, concurrency: number): Promise<number> {
  let done = 0;
  let errors = 0;
  const until = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < until) {
      try {
        const res = await t.pool.request({
          method: 'POST',
          path: STREAMED ? '/v1/messages' : '/v1/chat/completions',
          headers: t.headers,
          body: STREAMED ? STREAM : CHAT,
        });
        await res.body.arrayBuffer();
        if (res.statusCode === 200) done++;
        else errors++;
      } catch {
        errors++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  if (errors > 0) console.log(`  (${t.name}: ${errors} errors)`);
  return done / elapsed;
}

function row(name: string, r: { p50: number; p99: number }, base?: { p50: number; p99: number }): string {
  const added = base ? `   added p50 ${us(r.p50 - base.p50)}  p99 ${us(r.p99 - base.p99)}` : '';
  return `  ${name.padEnd(20)} p50 ${us(r.p50).padStart(8)}  p99 ${us(r.p99).padStart(8)}${added}`;
}

async function main(): Promise<void> {
  const sim = await start(
    CLI,
    ['simulator', '--port', '0', '--output-tokens', String(STREAM_TOKENS), '--tokens-per-chunk', '4'],
    process.env,
    'stdout',
  );
  const floor = await start(process.argv[1], ['--proxy-only', sim.url], process.env, 'stdout');
  const { dir, keys } = examplePolicyCopy();
  liftRateLimits(dir);
  if (KEYS > 0) addGeneratedKeys(dir, KEYS);
  const OBS = values.observability;
  const serveEnv = {
    ...process.env,
    OPENAI_API_KEY: 'sk-bench-openai',
    ANTHROPIC_API_KEY: 'sk-ant-bench',
    GEMINI_API_KEY: 'bench-gemini',
    PORTCULLIS_UPSTREAM_OPENAI: sim.url,
    PORTCULLIS_UPSTREAM_ANTHROPIC: sim.url,
    PORTCULLIS_UPSTREAM_GOOGLE: sim.url,
  };
  const serveWith = async (env: NodeJS.ProcessEnv) => {
    const data = mkdtempSync(join(tmpdir(), 'pc-bench-'));
    process.on('exit', () => rmSync(data, { recursive: true, force: true }));
    return start(
      CLI,
      [
        'serve',
        '--policy',
        dir,
        '--port',
        '0',
        '--log-level',
        values['log-level'],
        '--data-dir',
        data,
        '--workers',
        '1',
      ],
      { ...serveEnv, ...env },
      'stderr',
    );
  };
  const sink = OBS ? await start(process.argv[1], ['--otlp-sink'], process.env, 'stdout') : undefined;
  const withMetrics = OBS ? await serveWith({}) : undefined;
  const withTracing = sink
    ? await serveWith({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${sink.url}/v1/traces`,
        OTEL_TRACES_SAMPLER_ARG: '1',
      })
    : undefined;
  const startGateway = (workers: number) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pc-bench-'));
    process.on('exit', () => rmSync(dataDir, { recursive: true, force: true }));
    return start(
      CLI,
      [
        'serve',
        '--policy',
        dir,
        '--port',
        '0',
        '--log-level',
        values['log-level'],
        '--data-dir',
        dataDir,
        '--workers',
        String(workers),
      ],
      {
        ...process.env,
        ...(OBS ? { PORTCULLIS_CALL_METRICS: 'off' } : {}),
        OPENAI_API_KEY: 'sk-bench-openai',
        ANTHROPIC_API_KEY: 'sk-ant-bench',
        GEMINI_API_KEY: 'bench-gemini',
        PORTCULLIS_UPSTREAM_OPENAI: sim.url,
        PORTCULLIS_UPSTREAM_ANTHROPIC: sim.url,
        PORTCULLIS_UPSTREAM_GOOGLE: sim.url,
      },
      'stderr',
      values['profile-dir'] ? ['--cpu-prof', '--cpu-prof-dir', values['profile-dir']] : [],
    );
  };
  const gateways: { workers: number; name: string; gw: Child }[] = [];
  for (const w of WORKERS) {
    const name = WORKERS.length > 1 ? `Portcullis ×${w}` : 'Portcullis';
    gateways.push({ workers: w, name, gw: await startGateway(w) });
  }
  // Other checkouts serve with their own code and defaults (an old one may not know --workers).
  const others: { name: string; gw: Child }[] = [];
  for (const spec of values.against) {
    const at = spec.indexOf('@');
    if (at <= 0) throw new Error(`--against ${spec}: expected NAME@DIR`);
    const dataDir = mkdtempSync(join(tmpdir(), 'pc-bench-'));
    process.on('exit', () => rmSync(dataDir, { recursive: true, force: true }));
    const gwOther = await start(
      join(spec.slice(at + 1), 'bin/portcullis.js'),
      ['serve', '--policy', dir, '--port', '0', '--log-level', values['log-level'], '--data-dir', dataDir],
      { ...serveEnv, ...(OBS ? { PORTCULLIS_CALL_METRICS: 'off' } : {}) },
      'stderr',
    );
    others.push({ name: spec.slice(0, at), gw: gwOther });
  }
  const gw = gateways[0].gw;
  const headers = (key: string) => ({
    'content-type': 'application/json',
    authorization: `Bearer ${key}`,
    'x-api-key': key,
  });
  const target = (name: string, url: string, key: string, c: number): Target => ({
    name,
    pool: new Pool(url, { connections: c }),
    headers: headers(key),
  });

  console.log(
    `Portcullis gateway benchmark — ${availableParallelism()} CPUs, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    'Simulator, gateway, floor proxy and this load generator share the machine (and its other users).\n',
  );

  if (KEYS > 0) console.log(`Policy: the example plus ${KEYS} generated virtual keys.\n`);
  const idle = new Map([...gateways, ...others].map((g) => [g.name, residentMb(g.gw.child)]));
  if (!values['no-latency']) {
    const d1 = target('simulator direct', sim.url, 'sim-key', 1);
    const f1 = target('do-nothing proxy', floor.url, 'sim-key', 1);
    const g1 = target('Portcullis', gw.url, keys.principal, 1);
    const chat = (t: Target) => once(t, '/v1/chat/completions', CHAT);
    const floorLat = await latency(d1, f1, chat, REQUESTS);
    const gwLat = await latency(d1, g1, chat, REQUESTS);
    console.log(
      `Chat completion, 1 connection, ${REQUESTS} calls per target (targets: added ≤ 100 µs p50, ≤ 1 ms p99)`,
    );
    console.log(row('simulator direct', gwLat.a));
    console.log(row('do-nothing proxy', floorLat.b, floorLat.a));
    console.log(row('Portcullis', gwLat.b, gwLat.a));
    console.log(
      `  Portcullis over the do-nothing proxy: p50 ${us(gwLat.b.p50 - gwLat.a.p50 - (floorLat.b.p50 - floorLat.a.p50))}\n`,
    );
    for (const o of others) {
      const o1 = target(o.name, o.gw.url, keys.principal, 1);
      const vs = await latency(g1, o1, chat, REQUESTS);
      const direct = gwLat.a.p50;
      const added = (r: { p50: number }) => r.p50 - direct;
      console.log(`  alternated with ${o.name}, ${REQUESTS} calls each:`);
      console.log(row('Portcullis', vs.a));
      console.log(row(o.name, vs.b));
      console.log(
        `  added p50 over the simulator: ${us(added(vs.a))} against ${us(added(vs.b))} (×${(added(vs.a) / added(vs.b)).toFixed(3)})\n`,
      );
      await o1.pool.close();
    }

    const n = Math.max(200, REQUESTS / 2);
    const floorTtfb = await latency(d1, f1, firstByte, n);
    const gwTtfb = await latency(d1, g1, firstByte, n);
    console.log(
      `Anthropic stream, time to first byte, 1 connection, ${n} calls per target (target: added ≤ 100 µs)`,
    );
    console.log(row('simulator direct', gwTtfb.a));
    console.log(row('do-nothing proxy', floorTtfb.b, floorTtfb.a));
    console.log(row('Portcullis', gwTtfb.b, gwTtfb.a));
    console.log('');
    for (const t of [d1, f1, g1]) await t.pool.close();
  }

  const runs: [string, Target, ChildProcess][] = [
    ['simulator direct', target('simulator', sim.url, 'sim-key', CONCURRENCY), sim.child],
    ['do-nothing proxy', target('floor', floor.url, 'sim-key', CONCURRENCY), floor.child],
    ...gateways.map((g): [string, Target, ChildProcess] => [
      OBS ? `${g.name}, no metrics/tracing` : g.name,
      target('gateway', g.gw.url, keys.principal, CONCURRENCY),
      g.gw.child,
    ]),
  ];
  for (const o of others) {
    runs.push([o.name, target(o.name, o.gw.url, keys.principal, CONCURRENCY), o.gw.child]);
  }
  if (withMetrics && withTracing) {
    runs.push([
      'Portcullis + metrics',
      target('gateway+m', withMetrics.url, keys.principal, CONCURRENCY),
      withMetrics.child,
    ]);
    runs.push([
      'Portcullis + metrics + tracing 100 %',
      target('gateway+mt', withTracing.url, keys.principal, CONCURRENCY),
      withTracing.child,
    ]);
  }
  console.log(
    `${STREAMED ? 'Anthropic stream' : 'Chat completion'} throughput, ${CONCURRENCY} connections, ${SECONDS} s per target after ${WARMUP} s of warm-up (target: ≥ 10,000 req/s)`,
  );
  // The machine is shared and noisy: with --rounds N the targets take turns N times and the median
  // of each is reported too.
  const results = new Map<string, { rps: number; cpu: number; loop: number }[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, t, child] of runs) {
      await throughput(t, round === 0 ? WARMUP : 1, CONCURRENCY);
      const cpu0 = cpuSeconds(child);
      const loop0 = cpuSeconds(child, true);
      const top0 = cpuSeconds(child, false, true);
      const own0 = process.cpuUsage();
      const t0 = performance.now();
      const rps = await throughput(t, SECONDS, CONCURRENCY);
      const cpu1 = cpuSeconds(child);
      const loop1 = cpuSeconds(child, true);
      const top1 = cpuSeconds(child, false, true);
      const own = process.cpuUsage(own0);
      const wall = (performance.now() - t0) / 1000;
      const perCallOf = (a: number | undefined, b: number | undefined) =>
        a === undefined || b === undefined ? Number.NaN : ((b - a) / (rps * wall)) * 1e6;
      const cpu = perCallOf(cpu0, cpu1);
      const loop = perCallOf(loop0, loop1);
      results.set(name, [...(results.get(name) ?? []), { rps, cpu, loop }]);
      // A cluster: what its primary (counters, audit, connection hand-out) spends per call.
      const primary =
        processTree(child.pid).length > 1 ? ` (primary ${perCallOf(top0, top1).toFixed(0)})` : '';
      const perCall = Number.isNaN(cpu)
        ? ''
        : `   server CPU ${cpu.toFixed(0)} µs/call${primary} (event loops ${loop.toFixed(0)})`;
      const client = (own.user + own.system) / (rps * wall);
      console.log(
        `  ${name.padEnd(OBS ? 38 : 20)} ${rps.toFixed(0).padStart(6)} req/s${perCall}   load generator ${client.toFixed(0)} µs/call`,
      );
    }
  }
  if (ROUNDS > 1) {
    console.log(`  median of ${ROUNDS} rounds:`);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    for (const [name, rs] of results) {
      const cpu = median(rs.map((r) => r.cpu));
      const loop = median(rs.map((r) => r.loop));
      const perCall = Number.isNaN(cpu)
        ? ''
        : `   server CPU ${cpu.toFixed(0)} µs/call (event loop ${loop.toFixed(0)})`;
      console.log(
        `  ${name.padEnd(OBS ? 38 : 20)} ${median(rs.map((r) => r.rps))
          .toFixed(0)
          .padStart(6)} req/s${perCall}`,
      );
    }
  }
  for (const [, t] of runs) await t.pool.close();
  console.log('\nResident set (VmRSS, MB; primary first): idle → after the load');
  for (const g of [...gateways, ...others]) {
    const after = residentMb(g.gw.child);
    const fmt = (xs: number[] | undefined) => (xs ?? []).map((x) => x.toFixed(0)).join(' + ');
    const sum = after.reduce((a, b) => a + b, 0);
    console.log(`  ${g.name.padEnd(20)} ${fmt(idle.get(g.name))} → ${fmt(after)}  (total ${sum.toFixed(0)})`);
  }
  if (values['profile-dir']) {
    // The profile is written when the gateway exits; a signal lets it shut down cleanly first.
    const exited = new Promise((done) => gw.child.once('exit', done));
    gw.child.kill('SIGTERM');
    await exited;
    console.log(`\nGateway CPU profile written to ${values['profile-dir']}`);
  }
}

/** An OTLP/HTTP receiver that takes every export and discards it (the tracing benchmark's collector). */
function otlpSink(): void {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
  });
}

if (values['otlp-sink']) otlpSink();
else if (values['proxy-only'] !== undefined) minimalProxy(values['proxy-only']);
else
  main()
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(stopAll);
