// Settings a running gateway cannot switch (its counter store, its audit sinks) are named when the
// policy changes them, in the log and in /status, instead of being silently ignored until a restart.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { examplePolicyCopy } from '../fixtures/keys.ts';
import { type GatewayProcess, killAll, startGateway, startSimulator } from './helpers.ts';

describe('policy changes that need a restart', { timeout: 120_000 }, () => {
  let gw: GatewayProcess | undefined;
  let closeSim: (() => Promise<void>) | undefined;

  after(async () => {
    await gw?.stop();
    await closeSim?.();
    killAll();
  });

  test('a new audit sink is named in /status and the log until the next restart', async () => {
    const s = await startSimulator();
    closeSim = () => s.sim.close();
    const { dir } = examplePolicyCopy();
    gw = await startGateway({ policyDir: dir, simUrl: s.url });
    const status = async () =>
      (await (await fetch(`${gw!.url}/status`)).json()) as {
        policy: { revision: string };
        restartRequiredFor: string[];
      };
    assert.deepEqual((await status()).restartRequiredFor, []);
    const before = (await status()).policy.revision;

    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(
        '    contentLogging: false',
        '    contentLogging: false\n    sinks:\n      - { type: jsonl, path: siem/audit.jsonl }',
      ),
    );
    let now: Awaited<ReturnType<typeof status>> | undefined;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      now = await status();
      if (now.policy.revision !== before) break;
    }
    assert.notEqual(now?.policy.revision, before, 'the edited policy was activated');
    assert.deepEqual(now?.restartRequiredFor, ['audit.sinks']);
    assert.match(gw.output(), /take effect at the next restart/);
  });
});
