// Policy changes to the Gateway settings: the audit sinks switch while the gateway runs; what it
// cannot switch (its counter store) is named in the log and in /status until the next restart,
// instead of being silently ignored.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { examplePolicyCopy } from '../fixtures/keys.ts';
import { type GatewayProcess, killAll, post, startGateway, startSimulator } from './helpers.ts';

interface Status {
  policy: { revision: string };
  restartRequiredFor: string[];
  auditSinks: { active: string[]; error?: string };
}

describe('Gateway settings changed by policy', { timeout: 120_000 }, () => {
  let gw: GatewayProcess;
  let closeSim: () => Promise<void>;
  let dir: string;
  let key: string;

  before(async () => {
    const s = await startSimulator();
    closeSim = () => s.sim.close();
    const copy = examplePolicyCopy();
    dir = copy.dir;
    key = copy.keys.principal;
    gw = await startGateway({
      policyDir: dir,
      simUrl: s.url,
      env: { PORTCULLIS_TEST_REDIS_URL: 'redis://127.0.0.1:1' },
    });
  });

  after(async () => {
    await gw?.stop();
    await closeSim?.();
    killAll();
  });

  const status = async () => (await (await fetch(`${gw.url}/status`)).json()) as Status;

  /** Edits gateway.yaml and waits until the gateway runs the new revision. */
  async function editGateway(edit: (yaml: string) => string): Promise<Status> {
    const before = (await status()).policy.revision;
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, edit(readFileSync(file, 'utf8')));
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const now = await status();
      if (now.policy.revision !== before) return now;
    }
    throw new Error('the edited policy was not activated');
  }

  const chat = () =>
    post(
      gw.url,
      '/v1/chat/completions',
      { model: 'gpt-5-mini', messages: [{ role: 'user', content: 'hi' }] },
      { authorization: `Bearer ${key}` },
    );

  test('an audit sink added by policy is fed without a restart', async () => {
    assert.deepEqual((await status()).auditSinks, { active: [] });
    await editGateway((y) =>
      y.replace(
        '    contentLogging: false',
        '    contentLogging: false\n    sinks:\n      - { type: jsonl, name: siem, path: siem/audit.jsonl }',
      ),
    );
    // The switch follows the activation asynchronously.
    for (let i = 0; i < 50 && (await status()).auditSinks.active.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const now = await status();
    assert.deepEqual(now.auditSinks, { active: ['siem'] });
    assert.deepEqual(now.restartRequiredFor, []);

    const answer = await chat();
    assert.equal(answer.status, 200);
    const requestId = answer.headers.get('x-request-id');
    const file = join(gw.dataDir, 'siem/audit.jsonl');
    let lines: { record: { requestId: string } }[] = [];
    for (let i = 0; i < 100 && !lines.some((l) => l.record.requestId === requestId); i++) {
      await new Promise((r) => setTimeout(r, 100));
      lines = existsSync(file)
        ? readFileSync(file, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l))
        : [];
    }
    assert.ok(
      lines.some((l) => l.record.requestId === requestId),
      'the call after the change reached the new sink',
    );
  });

  test('a sink that cannot start is reported and the running sinks stay', async () => {
    const now = await editGateway((y) =>
      y.replace(
        '      - { type: jsonl, name: siem, path: siem/audit.jsonl }',
        '      - type: http\n        name: collector\n        url: http://127.0.0.1:9/ingest\n' +
          '        headers:\n          authorization: { fromEnv: PORTCULLIS_TEST_UNSET_TOKEN }',
      ),
    );
    let sinks = now.auditSinks;
    for (let i = 0; i < 50 && sinks.error === undefined; i++) {
      await new Promise((r) => setTimeout(r, 100));
      sinks = (await status()).auditSinks;
    }
    assert.deepEqual(sinks.active, ['siem']);
    assert.match(sinks.error ?? '', /PORTCULLIS_TEST_UNSET_TOKEN/);
    assert.match(gw.output(), /audit sinks cannot be started/);
  });

  test('a new counter store is named in /status and the log until the next restart', async () => {
    const now = await editGateway((y) =>
      y.replace(
        '    store: sqlite',
        '    store: redis\n    redisUrl: { fromEnv: PORTCULLIS_TEST_REDIS_URL }',
      ),
    );
    assert.deepEqual(now.restartRequiredFor, ['limits.store', 'limits.redisUrl']);
    assert.match(gw.output(), /take effect at the next restart/);
    assert.equal((await chat()).status, 200, 'calls still count in the running store');
  });
});
