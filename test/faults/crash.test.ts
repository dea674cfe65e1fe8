// kill -9 under load, three times over one data directory: every call whose 2xx answer the client
// read in full has its audit record once the gateway is back, and the chain verifies.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
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

test('three kill -9 trials under load: every 2xx answer the client read has its audit record, and audit verify passes', async () => {
  const { sim, url: simUrl } = await startSimulator();
  const policy = e2ePolicy([{ id: 'e2e-crash' }]);
  const key = policy.keys['e2e-crash'];
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-crash-'));
  const answered: string[] = [];
  try {
    for (let trial = 0; trial < 3; trial++) {
      const gw = await startGateway({ policyDir: policy.dir, simUrl, dataDir });
      let stop = false;
      const clients = Array.from({ length: CLIENTS }, async (_, i) => {
        while (!stop) {
          const id = await answeredCall(gw.url, key, i % 2 === 0).catch(() => undefined);
          if (id !== undefined && !stop) answered.push(id);
          else if (id !== undefined) answered.push(id);
        }
      });
      const before = answered.length;
      const started = Date.now();
      while (
        Date.now() - started < LOAD_MIN_MS ||
        (answered.length - before < ANSWERS_PER_TRIAL && Date.now() - started < LOAD_MAX_MS)
      ) {
        await new Promise((r) => setTimeout(r, 50));
      }
      gw.child.kill('SIGKILL');
      stop = true;
      await Promise.all(clients);
      await gw.stop();
    }
    // The next start commits what the last one journaled.
    const gw = await startGateway({ policyDir: policy.dir, simUrl, dataDir });
    await gw.stop();
  } finally {
    await sim.close();
  }
  const q = auditCli(['query', '--data-dir', dataDir, '--limit', '0', '--json']);
  assert.equal(q.status, 0, q.stderr);
  const recorded = new Set(
    q.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as { record: { requestId: string } }).record.requestId),
  );
  const missing = answered.filter((id) => !recorded.has(id));
  assert.ok(answered.length > 100, `enough load: ${answered.length} answers`);
  assert.deepEqual(missing, [], `${missing.length} of ${answered.length} answered calls have no record`);
  const verify = auditCli(['verify', '--data-dir', dataDir]);
  assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  process.stdout.write(
    `# kill -9 ×3: ${answered.length} 2xx answers read, ${recorded.size} records, 0 missing\n`,
  );
});
