// Resident set of `portcullis serve` with a large policy: right after start and under sustained load
// (issue #25's target: ≤ 200 MB steady under load with 10,000 keys). The simulator and each gateway
// run as child processes; this process drives chat calls with undici and reads /proc.
//   node bench/memory.ts [--keys 10000] [--workers 1,2] [--seconds 20] [--concurrency 32] [--rounds 1]
//     [--variant NAME:VAR=value,--flag,…]    a gateway started with these environment variables and
//                                             node flags (e.g. base: or semi32:--max-semi-space-size=32);
//                                             variants take turns in each round, so CPU per call
//                                             compares under the same conditions
//     [--cpu-bursts N]  instead: start each variant once (first worker count) and load them in turn,
//                       N bursts of 4 s each, for CPU per call compared within each round
//     [--breakdown]   after each load: the gateway's V8 heap spaces (from /metrics) and its memory
//                     map by kind (/proc/<pid>/smaps), per process
// Each line: start time (spawn to listening, the policy build included), resident set summed over
// the gateway's processes right after start, and during the load (median and maximum of one-second
// samples over its second half), with CPU per call summed over the processes and their threads.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { REPO_ROOT } from '../src/toolchain/tools.ts';
import { examplePolicyCopy } from '../test/fixtures/keys.ts';
import { addGeneratedKeys, liftRateLimits } from './support/example-policy.ts';
import { cpuSeconds, processTree, residentMb } from './support/processes.ts';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '1,2' },
    seconds: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '1' },
    variant: { type: 'string', multiple: true, default: ['base:'] },
    breakdown: { type: 'boolean', default: false },
    'cpu-bursts': { type: 'string', default: '0' },
  },
});
const KEYS = Number(values.keys);
const WORKERS = values.workers.split(',').map((w) => Math.max(1, Number(w)));
const SECONDS = Math.max(4, Number(values.seconds));
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Math.max(1, Number(values.rounds));
const VARIANTS = values.variant.map((v) => {
  const [name, ...rest] = v.split(':');
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
  return { name, env, nodeArgs };
});

const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const CLI = join(REPO_ROOT, 'bin/portcullis.js');
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

function start(args: string[], env: NodeJS.ProcessEnv, stream: 'stdout' | 'stderr', nodeArgs: string[] = []) {
  const child = spawn(NODE, [...nodeArgs, CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
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

const CHAT = JSON.stringify({
  model: 'gpt-5-mini',
  max_completion_tokens: 64,
  messages: [
    { role: 'system', content: 'You are a helpful coding assistant.' },
    { role: 'user', content: 'Explain what a reverse proxy does in one paragraph.' },
  ],
});

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
  const sim = await start(['simulator', '--port', '0'], process.env, 'stdout');
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
  const startGateway = (workers: number, variant: (typeof VARIANTS)[number]) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pc-bench-mem-'));
    data.push(dataDir);
    return start(
      [
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
      variant.nodeArgs,
    );
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
        const exited = new Promise((r) => gw.child.once('exit', r));
        stop(gw.child);
        await exited;
      }
    }
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => process.exit());
