// Policy changes to the Gateway settings the stores follow, without a restart: the audit sinks and the
// counter store (SQLite or a real Redis) switch while the gateway runs, and what cannot start is
// reported while the running store or sinks go on.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { examplePolicyCopy } from '../fixtures/keys.ts';
import { RedisServer, redisAvailable } from '../limits/redis-server.ts';
import { type GatewayProcess, killAll, post, startGateway, startSimulator } from './helpers.ts';

interface Status {
  policy: { revision: string };
  counterStore: { kind: string; error?: string };
  auditSinks: { active: string[]; error?: string };
}

describe('Gateway settings changed by policy', { timeout: 120_000 }, () => {
  let gw: GatewayProcess;
  let closeSim: () => Promise<void>;
  let dir: string;
  let key: string;
  const redis = new RedisServer();
  // Down when the policy switches to it, started later: the switch is retried until it answers.
  const late = new RedisServer();
  let lateUrl = 'redis://127.0.0.1:1';

  before(async () => {
    if (redisAvailable()) {
      await redis.start();
      await late.start();
      lateUrl = late.url;
      await late.stop();
    }
    const s = await startSimulator();
    closeSim = () => s.sim.close();
    const copy = examplePolicyCopy();
    dir = copy.dir;
    key = copy.keys.principal;
    gw = await startGateway({
      policyDir: dir,
      simUrl: s.url,
      env: {
        PORTCULLIS_TEST_REDIS_URL: redis.url,
        PORTCULLIS_TEST_LATE_REDIS_URL: lateUrl,
        PORTCULLIS_SETTINGS_RETRY_MS: '500',
      },
    });
  });

  after(async () => {
    await gw?.stop();
    await closeSim?.();
    await redis.destroy();
    await late.destroy();
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

  /** Polls /status until `done` holds. */
  async function waitFor(done: (s: Status) => boolean): Promise<Status> {
    let now = await status();
    for (let i = 0; i < 100 && !done(now); i++) {
      await new Promise((r) => setTimeout(r, 100));
      now = await status();
    }
    return now;
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
    const now = await waitFor((s) => s.auditSinks.active.length > 0);
    assert.deepEqual(now.auditSinks, { active: ['siem'] });

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
    assert.equal(now.policy.revision.length > 0, true);
    const sinks = (await waitFor((s) => s.auditSinks.error !== undefined)).auditSinks;
    assert.deepEqual(sinks.active, ['siem']);
    assert.match(sinks.error ?? '', /PORTCULLIS_TEST_UNSET_TOKEN/);
    assert.match(gw.output(), /cannot start; the running one stays/);
  });

  test('the counter store switches to Redis and back while the gateway runs', {
    skip: !redisAvailable(),
  }, async () => {
    assert.equal((await status()).counterStore.kind, 'sqlite');
    // Reserved in SQLite before the switch, answered after it: it must settle in SQLite, or that store
    // never drains and the switch back below never happens.
    const inFlight = post(
      gw.url,
      '/v1/chat/completions',
      { model: 'gpt-5-mini', messages: [{ role: 'user', content: 'slow' }] },
      { authorization: `Bearer ${key}`, 'x-sim-delay-ms': '1500' },
    );
    await new Promise((r) => setTimeout(r, 200));
    await editGateway((y) =>
      y.replace(
        '    store: sqlite',
        '    store: redis\n    redisUrl: { fromEnv: PORTCULLIS_TEST_REDIS_URL }',
      ),
    );
    assert.deepEqual((await waitFor((s) => s.counterStore.kind === 'redis')).counterStore, { kind: 'redis' });
    const client = new Redis(redis.url);
    try {
      assert.deepEqual(
        await client.keys('*alice-principal*'),
        [],
        'the call in flight did not count in Redis',
      );
      assert.equal((await inFlight).status, 200);
      assert.equal((await chat()).status, 200);
      assert.ok((await client.keys('*alice-principal*')).length > 0, 'a new call counted in Redis');
    } finally {
      client.disconnect();
    }

    await editGateway((y) => y.replace(/ {4}store: redis\n.*\n/, '    store: sqlite\n'));
    // The SQLite file reopens once the calls that reserved in the first SQLite store settled.
    assert.deepEqual((await waitFor((s) => s.counterStore.kind === 'sqlite')).counterStore, {
      kind: 'sqlite',
    });
    assert.equal((await chat()).status, 200);
    assert.doesNotMatch(gw.output(), /settling the reservation failed/);
  });

  test('a Redis that does not answer is not switched to until it does; calls count in the running store', async () => {
    assert.equal((await status()).counterStore.kind, 'sqlite');
    await editGateway((y) =>
      y.replace(
        '    store: sqlite',
        '    store: redis\n    redisUrl: { fromEnv: PORTCULLIS_TEST_LATE_REDIS_URL }',
      ),
    );
    const now = await waitFor((s) => s.counterStore.error !== undefined);
    assert.equal(now.counterStore.kind, 'sqlite');
    assert.match(now.counterStore.error ?? '', /did not connect within 5 s/);
    assert.equal((await chat()).status, 200);
    if (!redisAvailable()) return;
    await late.start();
    const switched = await waitFor((s) => s.counterStore.kind === 'redis');
    assert.deepEqual(switched.counterStore, { kind: 'redis' }, 'the retry switched once Redis answered');
    assert.equal((await chat()).status, 200);
  });
});
