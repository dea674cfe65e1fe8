// Bad policy commits against a real `portcullis serve --git` process: a rule that never ends, a slow
// one, an undefined decision, two conflicting values. None is ever activated, each rejection names
// its reason in /status, and /healthz keeps answering quickly the whole time; a restart with the last
// bad commit at the head serves the last good revision.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';
import { PROVIDER_SECRETS } from '../integration/stack.ts';
import { git, policyRepo } from '../sync/helpers.ts';

const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const CLI = join(REPO_ROOT, 'bin/portcullis.js');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

const DENIAL = '{"priority": 1, "status": 403, "code": "x", "message": "x"}';
const rule = (body: string) =>
  `package portcullis.gateway\n\ndenials contains ${DENIAL} if {\n\t${body}\n}\n`;
const BAD: { name: string; file: string; edit: (t: string) => string }[] = [
  {
    name: 'runaway',
    file: 'rego/extra.rego',
    edit: () =>
      rule('count([x | some x in numbers.range(1, 100000); some y in numbers.range(1, 100000); x == y]) < 0'),
  },
  {
    name: 'slow',
    file: 'rego/extra.rego',
    edit: () => rule('count([x | some x in numbers.range(1, 3000000)]) < 0'),
  },
  {
    name: 'undefined',
    file: 'rego/decision.rego',
    edit: (t) => t.replace('decision := result if {', 'decision := result if {\n\tinput.never_sent'),
  },
  {
    name: 'conflicting',
    file: 'rego/extra.rego',
    edit: () =>
      'package portcullis.gateway\n\ndecision := {"allow": true, "status": 200, "code": "ok", "reasons": [], "redact": [], "stripTools": []} if input.surface\n',
  },
];

function serve(remote: string, dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    NODE,
    [
      CLI,
      'serve',
      '--git',
      remote,
      '--poll',
      '1',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--log-level',
      'warn',
    ],
    { env: { ...process.env, ...PROVIDER_SECRETS }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (c) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${out}`)));
  });
}

/**
 * Polls /healthz every 20 ms from a worker thread, so that this test's own synchronous git commands
 * do not count as the gateway's latency.
 */
interface PollStats {
  polls: number;
  p99: number;
  worst: number;
  /** Every latency, slowest first. */
  slowest: number[];
}

function healthzPoller(url: string): { stop(): Promise<PollStats>; run(ms: number): Promise<PollStats> } {
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const latencies = [];
    let polling = true;
    parentPort.once('message', () => { polling = false; });
    (async () => {
      // The first fetch opens the connection; it says nothing about the gateway.
      await fetch(workerData + '/healthz').then((r) => r.arrayBuffer()).catch(() => {});
      while (polling) {
        const t0 = performance.now();
        try {
          const res = await fetch(workerData + '/healthz', { signal: AbortSignal.timeout(5000) });
          await res.arrayBuffer();
          latencies.push(res.status === 200 ? performance.now() - t0 : Infinity);
        } catch { latencies.push(Infinity); }
        await new Promise((r) => setTimeout(r, 20));
      }
      parentPort.postMessage(latencies);
    })();
    `,
    { eval: true, workerData: url },
  );
  return {
    async run(ms: number) {
      await new Promise((r) => setTimeout(r, ms));
      return this.stop();
    },
    async stop() {
      worker.postMessage('stop');
      const latencies = (await new Promise((r) => worker.once('message', r))) as number[];
      await worker.terminate();
      latencies.sort((a, b) => a - b);
      return {
        polls: latencies.length,
        p99: latencies[Math.floor(latencies.length * 0.99)],
        worst: latencies[latencies.length - 1],
        slowest: latencies.toReversed(),
      };
    },
  };
}

test('runaway, slow, undefined and conflicting commits are never activated; /healthz answers throughout', async () => {
  const repo = policyRepo();
  const good = git(repo.work, 'rev-parse', 'HEAD');
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-rego-faults-'));
  const gw = await serve(repo.remote, dataDir);

  // What /healthz takes on this machine with nothing happening, to tell a stall from a busy host;
  // measured again afterwards, since a shared host's load changes within the test.
  const idleBefore = await healthzPoller(gw.url).run(3000);
  const poller = healthzPoller(gw.url);
  const status = async () => (await (await fetch(`${gw.url}/status`)).json()) as Record<string, unknown>;
  let last = good;
  try {
    for (const bad of BAD) {
      git(repo.work, 'reset', '--quiet', '--hard', good);
      const path = join(repo.work, bad.file);
      let text = '';
      try {
        text = readFileSync(path, 'utf8');
      } catch {}
      writeFileSync(path, bad.edit(text));
      last = repo.commit(`a ${bad.name} rule`);
      repo.push(true);
      const deadline = Date.now() + 60_000;
      let s = await status();
      while (!JSON.stringify(s).includes(`"rejected":{"revision":"${last}"`)) {
        assert.ok(Date.now() < deadline, `${bad.name}: no rejection in /status: ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 100));
        s = await status();
      }
      assert.equal(
        (s.policy as { revision: string }).revision,
        good,
        `${bad.name}: the good revision serves`,
      );
      assert.match(JSON.stringify(s), /admission, /, `${bad.name}: the reason is shown`);
    }
  } finally {
    const during = await poller.stop();
    const idleAfter = await healthzPoller(gw.url).run(3000);
    const idleP99 = Math.max(idleBefore.p99, idleAfter.p99);
    // The target is 100 ms; on a host so busy that /healthz takes longer than a third of that when
    // nothing happens (CI runs tests in parallel), three times its idle p99.
    const bound = Math.max(100, 3 * idleP99);
    const over = during.slowest.filter((ms) => ms >= bound);
    process.stdout.write(
      `# /healthz during ${BAD.length} bad commits: ${during.polls} polls, p99 ${during.p99.toFixed(1)} ms, ` +
        `max ${during.worst.toFixed(1)} ms, ${over.length} at or over ${bound.toFixed(0)} ms ` +
        `(idle before/after: p99 ${idleBefore.p99.toFixed(1)}/${idleAfter.p99.toFixed(1)} ms, ` +
        `max ${idleBefore.worst.toFixed(1)}/${idleAfter.worst.toFixed(1)} ms)\n`,
    );
    assert.ok(during.p99 < bound, `/healthz p99 ${during.p99.toFixed(1)} ms, bound ${bound.toFixed(0)} ms`);
    // A stall that each bad commit causes (work on the event loop while a revision is loaded or
    // admitted) shows as at least one slow poll per commit, however many polls there are; fewer
    // than that is the host's scheduling. One poll that never answered is a stalled gateway.
    assert.ok(
      over.length < BAD.length,
      `${over.length} polls at or over ${bound.toFixed(0)} ms: ${over.map((ms) => ms.toFixed(0)).join(', ')}`,
    );
    assert.ok(during.worst < 5000, `/healthz max ${during.worst.toFixed(0)} ms`);
  }

  // A restart with the last bad commit at the head serves the last good revision.
  gw.child.kill('SIGKILL');
  const again = await serve(repo.remote, dataDir);
  const ready = (await (await fetch(`${again.url}/readyz`)).json()) as { revision?: string };
  assert.equal(ready.revision, good);
  again.child.kill('SIGTERM');
});
