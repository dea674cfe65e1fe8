// `portcullis serve --workers 2` as a real process tree: counters exact across workers, one audit
// chain holding every worker's records, metrics summed over the cluster, a reload reaching every
// worker, and SIGTERM draining them all.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { AuditRecord } from '../../src/audit/index.ts';
import {
  type Answer,
  anthropicCall,
  auditCli,
  CALL_USD,
  e2ePolicy,
  killAll,
  startGateway,
  startSimulator,
} from './helpers.ts';

after(killAll);

interface WorkersStatus {
  policy: { revision: string } | null;
  workers: { count: number; serving: { pid: number; revision: string }[] };
}

async function status(url: string): Promise<WorkersStatus> {
  return (await fetch(`${url}/status`)).json() as Promise<WorkersStatus>;
}

async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('two workers: 200 concurrent calls on a budget for 50 → exactly 50; one verified chain with both workers; reload reaches both; SIGTERM drains', async () => {
  const { sim, url: simUrl } = await startSimulator();
  const policy = e2ePolicy([{ id: 'e2e-fifty', budgets: [{ amountUsd: 50 * CALL_USD, period: 'daily' }] }]);
  const gw = await startGateway({ policyDir: policy.dir, simUrl, env: { PORTCULLIS_WORKERS: '2' } });
  try {
    assert.match(gw.output(), /\(2 workers\)/);
    const before = await until(
      () => status(gw.url),
      (s) => s.workers?.serving.length === 2,
    );
    assert.equal(before.workers.count, 2);

    // Fresh connections, so that both workers take calls.
    const answers: Answer[] = await Promise.all(
      Array.from({ length: 200 }, () =>
        anthropicCall(gw.url, policy.keys['e2e-fifty'], { headers: { connection: 'close' } }),
      ),
    );
    assert.equal(answers.filter((a) => a.status === 200).length, 50);
    assert.equal(answers.filter((a) => a.status === 402).length, 150);

    // A reload: both workers serve the new revision.
    const gatewayYaml = join(policy.dir, 'gateway.yaml');
    writeFileSync(gatewayYaml, `${readFileSync(gatewayYaml, 'utf8')}\n# edited\n`);
    const reloaded = await until(
      () => status(gw.url),
      (s) =>
        s.policy?.revision !== before.policy?.revision &&
        s.workers.serving.every((w) => w.revision === s.policy?.revision),
    );
    assert.notEqual(reloaded.policy?.revision, before.policy?.revision);
    assert.equal(new Set(reloaded.workers.serving.map((w) => w.revision)).size, 1);

    const metrics = await until(
      async () => (await fetch(`${gw.url}/metrics`)).text(),
      (t) => /portcullis_audit_records_written_total 200\b/.test(t),
      10_000,
    );
    assert.match(metrics, /portcullis_audit_records_written_total 200\b/);
    assert.equal(
      metrics.match(/^portcullis_process_\w*resident_memory_bytes /gm)?.length,
      1,
      'one summed series',
    );
  } finally {
    assert.equal(await gw.stop(), 0);
    await sim.close();
  }
  const verify = auditCli(['verify', '--data-dir', gw.dataDir]);
  assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  const q = auditCli(['query', '--data-dir', gw.dataDir, '--limit', '0', '--json']);
  const records = q.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l).record as AuditRecord);
  assert.equal(records.length, 200);
  assert.equal(new Set(records.map((r) => r.instance)).size, 2, 'records from both workers');
});

test('two workers: a decision that runs away in one worker quarantines its revision in all, and the one before serves again', async () => {
  const { sim, url: simUrl } = await startSimulator();
  const policy = e2ePolicy([{ id: 'e2e-trap', budgets: [{ amountUsd: 100, period: 'daily' }] }]);
  const gw = await startGateway({ policyDir: policy.dir, simUrl, env: { PORTCULLIS_WORKERS: '2' } });
  try {
    const good = await until(
      () => status(gw.url),
      (s) => s.workers?.serving.length === 2,
    );
    // Reached only by one client, so every canary decides and the revision is admitted.
    writeFileSync(
      join(policy.dir, 'rego', 'trap.rego'),
      `package portcullis.gateway

denials contains {"priority": 1, "status": 403, "code": "x", "message": "x"} if {
\tinput.userAgent == "detonate"
\tcount([x | some x in numbers.range(1, 100000); some y in numbers.range(1, 100000); x == y]) < 0
}
`,
    );
    const trapped = await until(
      () => status(gw.url),
      (s) =>
        s.policy?.revision !== good.policy?.revision &&
        s.workers.serving.length === 2 &&
        s.workers.serving.every((w) => w.revision === s.policy?.revision),
    );
    assert.notEqual(trapped.policy?.revision, good.policy?.revision);

    const key = policy.keys['e2e-trap'];
    const refused = await anthropicCall(gw.url, key, {
      headers: { 'user-agent': 'detonate', connection: 'close' },
    });
    assert.equal(refused.status, 500, 'the runaway call fails closed');
    const restored = await until(
      () => status(gw.url),
      (s) =>
        s.policy?.revision === good.policy?.revision &&
        s.workers.serving.every((w) => w.revision === good.policy?.revision),
      30_000,
    );
    assert.equal(restored.policy?.revision, good.policy?.revision, 'the revision before serves again');
    const sync = (await (await fetch(`${gw.url}/status`)).json()) as {
      sync: { rejected?: { revision: string; problems: { message: string }[] } };
    };
    assert.equal(sync.sync.rejected?.revision, trapped.policy?.revision);
    assert.match(
      sync.sync.rejected?.problems[0]?.message ?? '',
      /quarantined while serving: in a worker: .*fuel/,
    );
    // Every worker serves calls again, on the revision before.
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => anthropicCall(gw.url, key, { headers: { connection: 'close' } })),
    );
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200, 200, 200, 200],
    );
  } finally {
    assert.equal(await gw.stop(), 0);
    await sim.close();
  }
});
