// Resident set of `portcullis serve` with a large policy: right after start and under sustained load
// (issue #25's target: ≤ 200 MB steady under load with 10,000 keys). The simulator and each gateway
// run as child processes; this process drives chat calls with undici and reads /proc.
//   node bench/memory.ts [--keys 10000] [--workers 1,2] [--seconds 120] [--concurrency 32] [--rounds 1]
//     [--variant NAME:VAR=value,--flag,…]    a gateway started with these environment variables and
//                                             node flags (e.g. base: or semi32:--max-semi-space-size=32);
//                                             NAME@DIR:… runs the gateway of another checkout (say, the
//                                             parent commit, exported with its node_modules linked);
//                                             variants take turns in each round, so CPU per call
//                                             compares under the same conditions
//     [--cpu-bursts N]  instead: start each variant once (first worker count) and load them in turn,
//                       N bursts of 4 s each, for CPU per call compared within each round
//     [--breakdown]   after each load: the gateway's V8 heap spaces (from /metrics) and its memory
//                     map by kind (/proc/<pid>/smaps), per process
//     [--floor]       also, in each round, two `node -e` servers with no Portcullis code under the
//                     same load (the floor: see FLOORS)
//     [--body-kb N]   pad each chat call to about N KB with a file the agent read (default: a
//                     0.2 KB call, as bench/gateway.ts sends); agents send 10-500 KB
//     [--diagnostics DIR]  the gateway's stdout (e.g. a variant's --trace-gc-nvp) goes to DIR, and a
//                     heap snapshot of each process's serving thread is written there as the load ends
// Each line: start time (spawn to listening, the policy build included), resident set summed over
// the gateway's processes right after start, and during the load (median and maximum of one-second
// samples over its second half), with CPU per call summed over the processes and their threads.
// The default load is 120 s because the first full GC under load comes after 40-60 s: a shorter run
// shows only the first old-generation cycle, not the steady state (docs/workers.md).
import { type ChildProcess, spawn } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { REPO_ROOT } from '../src/toolchain/tools.ts';
import { examplePolicyCopy } from '../test/fixtures/keys.ts';
import { benchChat } from './support/chat.ts';
import { addGeneratedKeys, liftRateLimits } from './support/example-policy.ts';
import { cpuSeconds, processTree, residentMb } from './support/processes.ts';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '1,2' },
    seconds: { type: 'string', default: '120' },
    concurrency: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '1' },
    variant: { type: 'string', multiple: true, default: ['base:'] },
    breakdown: { type: 'boolean', default: false },
    'cpu-bursts': { type: 'string', default: '0' },
    diagnostics: { type: 'string' },
    floor: { type: 'boolean', default: false },
    'body-kb': { type: 'string', default: '0' },
  },
});

/**
 * What any Node server pays under the same load (`--floor`), as `node -e` programs with no module of
 * Portcullis: one answers every call with a fixed completion, the other forwards it to the simulator
 * with undici, as a do-nothing gateway would.
 */
const FLOORS = {
  http: `const body = JSON.stringify({ id: 'chatcmpl-floor', object: 'chat.completion', model: 'gpt-5-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: 'A reverse proxy forwards requests.' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 30, completion_tokens: 8, total_tokens: 38 } });
  const srv = require('node:http').createServer((req, res) => {
    req.resume();
    req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); });
  });
  srv.listen(0, '127.0.0.1', () => console.error('listening on http://127.0.0.1:' + srv.address().port));`,
  proxy: `const pool = new (require('undici').Pool)(process.argv[1], { connections: 256 });
  const srv = require('node:http').createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => pool.dispatch(
      { method: 'POST', path: req.url, body: Buffer.concat(chunks),
        headers: { 'content-type': 'application/json', authorization: 'Bearer upstream-key' } },
      {
        onRequestStart() {},
        onResponseStart(_c, status, headers) { res.writeHead(status, { 'content-type': String(headers['content-type']) }); },
        onResponseData(_c, chunk) { res.write(chunk); },
        onResponseEnd() { res.end(); },
        onResponseError(_c, err) { res.destroy(err); },
      }));
  });
  srv.listen(0, '127.0.0.1', () => console.error('listening on http://127.0.0.1:' + srv.address().port));`,
};
const KEYS = Number(values.keys);
const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const CLI = join(REPO_ROOT, 'bin/portcullis.js');
const WORKERS = values.workers.split(',').map((w) => Math.max(1, Number(w)));
const SECONDS = Math.max(4, Number(values.seconds));
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Math.max(1, Number(values.rounds));
const VARIANTS = values.variant.map((v) => {
  const [label, ...rest] = v.split(':');
  const [name, checkout] = label.split('@');
  const env: Record<string, string> = {};
  const nodeArgs: string[] = [];
  for (const pair of rest.join(':').split(',').filter(Boolean)) {
    if (pair.startsWith('--')) {
      nodeArgs.push(pair);
      continue;
    }
    const eq = pair.indexOf('=');
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const cli = checkout ? join(resolve(checkout), 'bin/portcullis.js') : CLI;
  return { name, env, nodeArgs, cli, floor: undefined as keyof typeof FLOORS | undefined };
});
if (values.floor) {
  for (const floor of ['http', 'proxy'] as const)
    VARIANTS.push({ name: `floor-${floor}`, env: {}, nodeArgs: [], cli: CLI, floor });
}

const children: ChildProcess[] = [];
// node_modules/.bin/node may run the real node as its own child: signal every process of a tree.
const stop = (child: ChildProcess) => {
  for (const pid of processTree(child.pid).reverse()) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
  }
};
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) stop(c);
});

const DIAGNOSTICS = values.diagnostics;
if (DIAGNOSTICS) mkdirSync(DIAGNOSTICS, { recursive: true });

/** `args` follow node's own flags: a script and its arguments, or `-e` and a program. */
function start(
  args: string[],
  env: NodeJS.ProcessEnv,
  stream: 'stdout' | 'stderr',
  nodeArgs: string[] = [],
  stdoutTo?: string,
) {
  const child = spawn(NODE, [...nodeArgs, ...args], {
    env,
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  // An unread pipe would stall the child once it fills.
  if (stream === 'stderr') {
    if (stdoutTo) child.stdout!.pipe(createWriteStream(stdoutTo));
    else child.stdout!.resume();
  }
  return new Promise<{ child: ChildProcess; url: string }>((resolve, reject) => {
    let text = '';
    const onData = (c: Buffer) => {
      text += c;
      const m = /listening on (http:\/\/\S+)/.exec(text);
      if (m) resolve({ child, url: m[1] });
    };
    child[stream]!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}: ${text.slice(-2000)}`)));
  });
}

/** CPU seconds of a gateway's tree; NaN (printed as such) when a process of it is gone. */
const cpuNow = (child: ChildProcess) => cpuSeconds(child) ?? Number.NaN;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * Resident MB of a process by kind of mapping: file-backed (the node binary, libraries), the main
 * malloc arena ([heap]), 64 MB-aligned anonymous regions (glibc's per-thread malloc arenas) and the
 * rest of anonymous memory (V8's heap pages, Wasm memory, large mmap'd allocations).
 */
function smapsMb(pid: number): Record<string, number> {
  const out: Record<string, number> = { file: 0, 'malloc main': 0, 'malloc threads': 0, 'other anon': 0 };
  let kind = 'other anon';
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (m) {
      const size = (Number.parseInt(m[2], 16) - Number.parseInt(m[1], 16)) / 1024;
      const name = m[3].trim();
      kind = name.startsWith('/')
        ? 'file'
        : name === '[heap]'
          ? 'malloc main'
          : !name && size >= 32 * 1024 && size <= 64 * 1024
            ? 'malloc threads'
            : 'other anon';
    } else if (line.startsWith('Rss:')) {
      out[kind] += Number(line.split(/\s+/)[1]) / 1024;
    }
  }
  return out;
}

async function heapSpacesMb(url: string): Promise<string> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const parts: string[] = [];
    for (const m of text.matchAll(
      /^portcullis_nodejs_heap_space_size_total_bytes\{space="(\w+)"\} (\d+)/gm,
    )) {
      if (Number(m[2]) > 1e6) parts.push(`${m[1]} ${(Number(m[2]) / 1e6).toFixed(0)}`);
    }
    const ext = /^portcullis_nodejs_external_memory_bytes (\d+)/m.exec(text);
    if (ext) parts.push(`external ${(Number(ext[1]) / 1e6).toFixed(0)}`);
    return parts.join(', ');
  } catch {
    return 'unavailable';
  }
}

const BODY_KB = Number(values['body-kb']);
/** The chat call; with --body-kb, a file the agent read pads it to about that size. */
const CHAT = benchChat(
  BODY_KB > 0
    ? Array.from({ length: Math.ceil((BODY_KB * 1024) / 64) }, (_, i) =>
        `const line${String(i).padStart(6, '0')} = compute(${i}, 'step');\n`.padEnd(64, ' '),
      ).join('')
    : undefined,
);

async function load(url: string, key: string, seconds: number, onSecond: () => void) {
  const pool = new Pool(url, { connections: CONCURRENCY });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  let done = 0;
  let errors = 0;
  const until = performance.now() + seconds * 1000;
  const tick = setInterval(onSecond, 1000);
  const worker = async () => {
    while (performance.now() < until) {
      try {
        const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers, body: CHAT });
        await res.body.arrayBuffer();
        if (res.statusCode === 200) done++;
        else errors++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  clearInterval(tick);
  await pool.close();
  return { done, errors };
}

async function main(): Promise<void> {
  const sim = await start([CLI, 'simulator', '--port', '0'], process.env, 'stdout');
  const { dir, keys } = examplePolicyCopy();
  liftRateLimits(dir);
  if (KEYS > 0) addGeneratedKeys(dir, KEYS);
  const data: string[] = [];
  process.on('exit', () => {
    for (const d of [...data, dir]) {
      try {
        rmSync(d, { recursive: true, force: true, maxRetries: 3 });
      } catch {}
    }
  });
  let runs = 0;
  const startGateway = (workers: number, variant: (typeof VARIANTS)[number]) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pc-bench-mem-'));
    const run = `${++runs}-${variant.name}-x${workers}`;
    data.push(dataDir);
    const diagnostics = DIAGNOSTICS
      ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${join(DIAGNOSTICS, run)}`]
      : [];
    const stdoutTo = DIAGNOSTICS ? join(DIAGNOSTICS, `${run}.stdout`) : undefined;
    if (variant.floor) {
      // `serve`'s own runtime settings (bin/portcullis.js), so that the difference is Portcullis's.
      return start(
        ['-e', FLOORS[variant.floor], sim.url],
        { ...process.env, MALLOC_ARENA_MAX: '2', ...variant.env },
        'stderr',
        ['--max-semi-space-size=32', ...variant.nodeArgs, ...diagnostics],
        stdoutTo,
      ).then((gw) => ({ ...gw, run }));
    }
    return start(
      [
        variant.cli,
        'serve',
        '--policy',
        dir,
        '--port',
        '0',
        '--log-level',
        'warn',
        '--data-dir',
        dataDir,
        '--workers',
        String(workers),
      ],
      {
        ...process.env,
        ...variant.env,
        OPENAI_API_KEY: 'sk-bench-openai',
        ANTHROPIC_API_KEY: 'sk-ant-bench',
        GEMINI_API_KEY: 'bench-gemini',
        PORTCULLIS_UPSTREAM_OPENAI: sim.url,
        PORTCULLIS_UPSTREAM_ANTHROPIC: sim.url,
        PORTCULLIS_UPSTREAM_GOOGLE: sim.url,
      },
      'stderr',
      [...variant.nodeArgs, ...diagnostics],
      stdoutTo,
    ).then((gw) => ({ ...gw, run }));
  };
  const bursts = Number(values['cpu-bursts']);
  if (bursts > 0) {
    const gws = [];
    for (const variant of VARIANTS) gws.push({ variant, gw: await startGateway(WORKERS[0], variant) });
    console.log(
      `CPU per call, ${bursts} rounds of 4 s bursts per variant in turn (×${WORKERS[0]}, ${KEYS} keys)`,
    );
    const perCall = new Map<string, number[]>();
    for (let round = -1; round < bursts; round++) {
      const line: string[] = [];
      for (const { variant, gw } of gws) {
        const cpu0 = cpuNow(gw.child);
        const { done } = await load(gw.url, keys.principal, round < 0 ? 2 : 4, () => {});
        const us = ((cpuNow(gw.child) - cpu0) / done) * 1e6;
        if (round >= 0) perCall.set(variant.name, [...(perCall.get(variant.name) ?? []), us]);
        line.push(`${variant.name} ${us.toFixed(0)}`);
      }
      if (round >= 0) console.log(`  round ${round + 1}: ${line.join('  ')} µs/call`);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const first = perCall.get(VARIANTS[0].name)!;
    for (const [name, xs] of perCall) {
      const ratios = xs.map((x, i) => x / first[i]);
      console.log(
        `  ${name.padEnd(12)} median ${median(xs).toFixed(0)} µs/call, ×${median(ratios).toFixed(3)} of ${VARIANTS[0].name} (median of the rounds' ratios)`,
      );
    }
    for (const { gw } of gws) {
      const exited = new Promise((r) => gw.child.once('exit', r));
      stop(gw.child);
      await exited;
    }
    return;
  }
  console.log(
    `Memory with the example policy plus ${KEYS} keys — ${availableParallelism()} CPUs, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; ${CONCURRENCY} connections for ${SECONDS} s`,
  );
  console.log('  resident set in MB, summed over the processes (primary + workers)');
  for (let round = 0; round < ROUNDS; round++) {
    for (const workers of WORKERS) {
      for (const variant of VARIANTS) {
        const t0 = performance.now();
        const gw = await startGateway(workers, variant);
        const startS = (performance.now() - t0) / 1000;
        await sleep(1000);
        const atStart = residentMb(gw.child);
        const samples: number[] = [];
        let second = 0;
        const cpu0 = cpuNow(gw.child);
        const { done, errors } = await load(gw.url, keys.principal, SECONDS, () => {
          if (++second > SECONDS / 2) samples.push(sum(residentMb(gw.child)));
        });
        const cpu = cpuNow(gw.child) - cpu0;
        const after = residentMb(gw.child);
        samples.sort((a, b) => a - b);
        const median = samples[Math.floor(samples.length / 2)] ?? Number.NaN;
        const max = samples.at(-1) ?? Number.NaN;
        const f = (x: number) => x.toFixed(0);
        console.log(
          `  ×${workers} ${variant.name.padEnd(12)} start ${startS.toFixed(1)} s  after start ${f(sum(atStart))} (${atStart.map(f).join(' + ')})` +
            `  under load median ${f(median)} max ${f(max)} (end ${after.map(f).join(' + ')})` +
            `  ${f(done / SECONDS)} req/s  CPU ${f((cpu / done) * 1e6)} µs/call${errors ? `  ${errors} errors` : ''}`,
        );
        if (values.breakdown) {
          console.log(`      V8 heap of the serving thread (MB committed): ${await heapSpacesMb(gw.url)}`);
          for (const pid of processTree(gw.child.pid)) {
            const kinds = Object.entries(smapsMb(pid)).map(([k, v]) => `${k} ${v.toFixed(0)}`);
            console.log(`      pid ${pid}: ${kinds.join(', ')}`);
          }
        }
        if (DIAGNOSTICS)
          console.log(`      heap snapshots: ${await heapSnapshots(gw.child, join(DIAGNOSTICS, gw.run))}`);
        const exited = new Promise((r) => gw.child.once('exit', r));
        stop(gw.child);
        await exited;
      }
    }
  }
}

/** Asks each process of a gateway for a heap snapshot of its serving thread; waits until all are written. */
async function heapSnapshots(child: ChildProcess, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const pids = processTree(child.pid);
  for (const pid of pids) process.kill(pid, 'SIGUSR2');
  const files = () => readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot'));
  // A snapshot is written in one go by the thread it describes: done when its size stops changing.
  let last = '';
  for (let i = 0; i < 600; i++) {
    await sleep(1000);
    const now = files()
      .map((f) => `${f}:${statSync(join(dir, f)).size}`)
      .join(',');
    if (files().length === pids.length && now === last) break;
    last = now;
  }
  return files()
    .filter((f) => existsSync(join(dir, f)))
    .map((f) => join(dir, f))
    .join(' ');
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => process.exit());
