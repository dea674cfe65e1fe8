// `serve --workers 2` under load, one worker killed with -9 three times: every call whose 2xx answer
// the client read in full has exactly one audit record (the dead worker's journal is taken into the
// primary's log), and the chain verifies.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { auditCli, e2ePolicy, killAll, startGateway, startSimulator } from '../e2e/helpers.ts';
import { answeredCall } from './answered-call.ts';

after(killAll);

const CLIENTS = 16;
/** Each trial runs until this many answers came back (or LOAD_MAX_MS passed), however busy the host. */
const ANSWERS_PER_TRIAL = 150;
const LOAD_MIN_MS = 1000;
const LOAD_MAX_MS = 15_000;

interface WorkersStatus {
  workers?: { serving: { pid: number }[] };
}

async function servingPids(url: string): Promise<number[]> {
  try {
    // A connection handed to a worker as it is killed is never answered: give up on it.
    const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(5_000) });
    const s = (await res.json()) as WorkersStatus;
    return s.workers?.serving.map((w) => w.pid) ?? [];
  } catch {
    return [];
  }
}

async function until(what: () => Promise<boolean>, ms: number, message: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await what())) {
    assert.ok(Date.now() < end, message);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('two workers, one killed with -9 three times under load: every 2xx answer read has one audit record, and audit verify passes', async () => {
  const { sim, url: simUrl } = await startSimulator();
  // Team app-dev has budgets: each call reserves and settles through the primary, so a record
  // leaves its worker only after the client has its answer.
  const policy = e2ePolicy([{ id: 'e2e-worker-crash' }]);
  // The load outlasts a minute of the team's 1,200 requests: lift it, so that every call is answered.
  const team = join(policy.dir, 'teams', 'acme.yaml');
  writeFileSync(
    team,
    readFileSync(team, 'utf8').replace('requestsPerMinute: 1200', 'requestsPerMinute: 1000000'),
  );
  const key = policy.keys['e2e-worker-crash'];
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-worker-crash-'));
  const answered: string[] = [];
  const killed: number[] = [];
  const gw = await startGateway({ policyDir: policy.dir, simUrl, dataDir, env: { PORTCULLIS_WORKERS: '2' } });
  try {
    await until(async () => (await servingPids(gw.url)).length === 2, 60_000, 'two workers serve');
    let stop = false;
    const clients = Array.from({ length: CLIENTS }, async (_, i) => {
      while (!stop) {
        const id = await answeredCall(gw.url, key, i % 2 === 0, { newConnection: true }).catch(
          () => undefined,
        );
        if (id !== undefined) answered.push(id);
      }
    });
    try {
      for (let trial = 0; trial < 3; trial++) {
        const before = answered.length;
        const started = Date.now();
        while (
          Date.now() - started < LOAD_MIN_MS ||
          (answered.length - before < ANSWERS_PER_TRIAL && Date.now() - started < LOAD_MAX_MS)
        ) {
          await new Promise((r) => setTimeout(r, 50));
        }
        const pids = await servingPids(gw.url);
        const victim = pids[trial % pids.length];
        process.kill(victim, 'SIGKILL');
        killed.push(victim);
        // The primary starts another worker; the load goes on meanwhile.
        await until(
          async () => {
            const now = await servingPids(gw.url);
            return now.length === 2 && !now.includes(victim);
          },
          60_000,
          'a new worker replaces the killed one',
        );
      }
    } finally {
      stop = true;
      await Promise.all(clients);
    }
    assert.equal(await gw.stop(), 0, gw.output());
  } finally {
    await gw.stop();
    await sim.close();
  }
  const q = auditCli(['query', '--data-dir', dataDir, '--limit', '0', '--json']);
  assert.equal(q.status, 0, q.stderr);
  const ids = q.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { record: { requestId: string } }).record.requestId);
  const recorded = new Set(ids);
  assert.equal(recorded.size, ids.length, 'no call is recorded twice');
  const missing = answered.filter((id) => !recorded.has(id));
  assert.ok(answered.length > 3 * 100, `enough load: ${answered.length} answers`);
  assert.deepEqual(missing, [], `${missing.length} of ${answered.length} answered calls have no record`);
  assert.deepEqual(
    readdirSync(join(dataDir, 'audit.db.workers')),
    [],
    `every worker's journal was taken in: ${gw.output().slice(-3000)}`,
  );
  const verify = auditCli(['verify', '--data-dir', dataDir]);
  assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  const recovered = [...gw.output().matchAll(/"recovered":(\d+)/g)].map((m) => Number(m[1]));
  process.stdout.write(
    `# workers, kill -9 ×3 (pids ${killed.join(', ')}): ${answered.length} 2xx answers read, ` +
      `${ids.length} records, 0 missing; taken from dead workers' journals: ${recovered.join(', ') || 'none'}\n`,
  );
});
