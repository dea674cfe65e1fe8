// The lifecycle of the components that follow the policy: started with the first snapshot,
// reconfigured by each swap, a failed switch kept running as it was, reported and retried.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Component, Lifecycle } from '../../src/gateway/lifecycle.ts';
import { SnapshotHolder } from '../../src/gateway/snapshot-holder.ts';
import type { GatewaySettings } from '../../src/policy/snapshot.ts';
import { fakeSnapshot } from './fake-snapshot.ts';

/** A component that runs whatever `limits.store` names, and cannot run `broken`. */
function store(log: string[]): Component & { running?: string } {
  const c: Component & { running?: string } = {
    name: 'store',
    start(settings) {
      if (settings.limits.store === ('broken' as never)) throw new Error('cannot open');
      c.running = settings.limits.store;
      log.push(`start ${c.running}`);
    },
    async reconfigure(settings) {
      if (settings.limits.store === c.running) return undefined;
      if (settings.limits.store === ('broken' as never)) throw new Error('cannot switch');
      c.running = settings.limits.store;
      return { message: 'switched', detail: { to: c.running } };
    },
    status: () => ({ kind: c.running ?? null }),
    async close() {
      log.push('close');
    },
  };
  return c;
}

const quiet = { info() {}, error() {} };
const snap = (storeKind: string, revision: string) =>
  fakeSnapshot({
    upstream: 'http://127.0.0.1:9',
    revision,
    gateway: { limits: { store: storeKind } } as Partial<GatewaySettings>,
  });

describe('lifecycle', () => {
  test('a component that cannot start closes the ones that did and stops the start', () => {
    const log: string[] = [];
    const good = store(log);
    const bad: Component = {
      ...store(log),
      name: 'bad',
      start: () => {
        throw new Error('no disk');
      },
    };
    const lifecycle = new Lifecycle([good, bad], { logger: quiet });
    assert.throws(() => lifecycle.start(snap('sqlite', 'r1').gateway), /no disk/);
    assert.deepEqual(log, ['start sqlite', 'close']);
    assert.equal(lifecycle.started, false);
  });

  test('follows swaps; a failed switch keeps the running one, shows in status, and is retried', async () => {
    const log: string[] = [];
    const c = store(log);
    const lifecycle = new Lifecycle([c], { logger: quiet, retryMs: 20 });
    const holder = new SnapshotHolder();
    lifecycle.follow(holder);
    assert.equal(lifecycle.started, false, 'nothing to start before a policy');
    holder.swap(snap('sqlite', 'r1'));
    assert.deepEqual(lifecycle.status(), { store: { kind: 'sqlite' } });

    holder.swap(snap('broken', 'r2'));
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(lifecycle.status(), { store: { kind: 'sqlite', error: 'cannot switch' } });

    // The same revision stays active; the component becomes able to switch; the retry does it.
    let attempts = 0;
    c.reconfigure = async () => {
      attempts++;
      c.running = 'redis';
      return undefined;
    };
    await new Promise((r) => setTimeout(r, 60));
    assert.ok(attempts >= 1);
    assert.deepEqual(lifecycle.status(), { store: { kind: 'redis' } });

    await lifecycle.close();
    holder.swap(snap('sqlite', 'r3'));
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(c.running, 'redis', 'a closed lifecycle follows nothing');
  });
});
