import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { SnapshotHolder } from '../../src/gateway/snapshot-holder.ts';
import { readLastGood } from '../../src/sync/last-good.ts';
import { createPolicyManager, type PolicyManagerOptions } from '../../src/sync/manager.ts';
import {
  ANONYMOUS_CALL,
  collectingLogger,
  git,
  policyRepo,
  setBobBudget,
  tempDir,
  waitFor,
} from './helpers.ts';

function bobMonthly(holder: SnapshotHolder): number | undefined {
  return holder
    .current()
    ?.keys.get('bob-dev')
    ?.budgets.find((b) => b.period === 'monthly')?.amountUsd;
}

function manager(url: string, extra: Partial<PolicyManagerOptions> = {}) {
  const holder = new SnapshotHolder();
  const logs = collectingLogger();
  const dataDir = extra.dataDir ?? tempDir('data');
  const m = createPolicyManager({
    source: { kind: 'git', url, ref: 'main' },
    holder,
    dataDir,
    pollSeconds: 0,
    logger: logs.logger,
    registry: logs.registry,
    ...extra,
  });
  return { m, holder, dataDir, ...logs };
}

describe('git policy sync', () => {
  test('start activates the remote head with its commit metadata', async () => {
    const repo = policyRepo();
    const head = git(repo.work, 'rev-parse', 'HEAD');
    const { m, holder, dataDir } = manager(repo.remote);
    await m.start();
    try {
      assert.equal(holder.current()?.revision, head);
      const status = m.status();
      assert.equal(status.ready, true);
      assert.equal(status.active?.revision, head);
      assert.equal(status.active?.subject, 'Initial policy');
      assert.equal(status.active?.author, 'Pat Platform <pat@acme.example>');
      assert.ok(status.active?.time && !Number.isNaN(Date.parse(status.active.time)));
      assert.equal(holder.current()?.source.commit?.subject, 'Initial policy');
      assert.equal(readLastGood(dataDir)?.revision, head);
      assert.equal(holder.current()!.evaluate(ANONYMOUS_CALL).status, 401);
    } finally {
      await m.stop();
    }
  });

  test('a budget change committed upstream is active within the poll interval', async () => {
    const repo = policyRepo();
    const { m, holder } = manager(repo.remote, { pollSeconds: 0.2 });
    await m.start();
    try {
      assert.equal(bobMonthly(holder), 200);
      const sha = repo.change('keys/app-dev.yaml', setBobBudget(275), 'Raise bob budget');
      await waitFor('the polled revision', () => holder.current()?.revision === sha);
      assert.equal(bobMonthly(holder), 275);
      assert.equal(m.status().active?.subject, 'Raise bob budget');
    } finally {
      await m.stop();
    }
  });

  test('a tag ref serves the tagged commit, not the branch head', async () => {
    const repo = policyRepo();
    const tagged = repo.change('keys/app-dev.yaml', setBobBudget(111), 'Release 1');
    git(repo.work, 'tag', '-a', 'v1', '-m', 'v1');
    git(repo.work, 'push', '--quiet', 'origin', 'v1');
    repo.change('keys/app-dev.yaml', setBobBudget(222), 'After the release');
    const { m, holder } = manager(repo.remote, { source: { kind: 'git', url: repo.remote, ref: 'v1' } });
    await m.start();
    try {
      assert.equal(holder.current()?.revision, tagged);
      assert.equal(bobMonthly(holder), 111);
    } finally {
      await m.stop();
    }
  });

  test('a policy in a subdirectory of the repository is served', async () => {
    const repo = policyRepo('policy');
    const { m, holder } = manager(repo.remote, {
      source: { kind: 'git', url: repo.remote, subdir: 'policy' },
    });
    await m.start();
    try {
      assert.equal(bobMonthly(holder), 200);
      assert.match(m.status().source, /dir policy/);
    } finally {
      await m.stop();
    }
  });

  test('broken commits are rejected with file:line and the last good revision keeps serving', async () => {
    const repo = policyRepo();
    const { m, holder, lines, registry } = manager(repo.remote);
    await m.start();
    try {
      const good = repo.change('keys/app-dev.yaml', setBobBudget(300), 'Good change');
      await m.triggerFetch('test');
      assert.equal(holder.current()?.revision, good);

      const schemaBad = repo.change(
        'keys/app-dev.yaml',
        (t) => t.replace('{ amountUsd: 300, period: monthly }', '{ amountUsd: lots, period: monthly }'),
        'Schema error',
      );
      await m.triggerFetch('test');
      let status = m.status();
      assert.equal(holder.current()?.revision, good);
      assert.equal(bobMonthly(holder), 300);
      assert.equal(status.active?.revision, good);
      assert.equal(status.rejected?.revision, schemaBad);
      const schemaProblem = status.rejected?.problems.find((p) => p.file === 'keys/app-dev.yaml');
      assert.ok(schemaProblem, JSON.stringify(status.rejected?.problems));
      assert.ok(schemaProblem.line > 1);
      assert.ok(
        lines.some((l) => l.includes('rejected') && l.includes(`keys/app-dev.yaml:${schemaProblem.line}`)),
      );

      // Polling the same bad head again does not rebuild or re-log it.
      const before = lines.length;
      await m.triggerFetch('test');
      assert.equal(lines.length, before);

      const regoBad = repo.change(
        'keys/app-dev.yaml',
        (t) => t.replace('amountUsd: lots', 'amountUsd: 300'),
        'Fix schema',
      );
      writeFileSync(
        join(repo.work, 'rego', 'broken.rego'),
        'package portcullis.gateway\n\nallow if {\n  input.x ==\n}\n',
      );
      const regoSha = repo.commit('Rego syntax error');
      repo.push();
      assert.notEqual(regoSha, regoBad);
      await m.triggerFetch('test');
      status = m.status();
      assert.equal(holder.current()?.revision, good);
      assert.equal(status.rejected?.revision, regoSha);
      const regoProblem = status.rejected?.problems.find((p) => p.file === 'rego/broken.rego');
      assert.ok(regoProblem, JSON.stringify(status.rejected?.problems));
      assert.ok(regoProblem.line >= 4);
      assert.equal(holder.current()!.evaluate(ANONYMOUS_CALL).status, 401);

      const metrics = await registry.metrics();
      assert.match(metrics, /portcullis_policy_reload_failures_total\{reason="invalid"\} 2/);
      assert.match(metrics, new RegExp(`portcullis_policy_active_revision_info\\{revision="${good}"\\} 1`));
    } finally {
      await m.stop();
    }
  });

  test('20 commits in a row while requests evaluate continuously: no failures, last one active', async () => {
    const repo = policyRepo();
    const { m, holder } = manager(repo.remote);
    await m.start();
    let running = true;
    let evaluations = 0;
    const failures: unknown[] = [];
    const load = (async () => {
      while (running) {
        try {
          const snapshot = holder.current();
          if (!snapshot) throw new Error('no snapshot');
          if (snapshot.evaluate(ANONYMOUS_CALL).status !== 401) throw new Error('wrong decision');
          evaluations++;
        } catch (err) {
          failures.push(err);
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    try {
      const triggers: Promise<void>[] = [];
      let last = '';
      for (let i = 1; i <= 20; i++) {
        last = repo.change('keys/app-dev.yaml', setBobBudget(1000 + i), `Budget ${i}`);
        triggers.push(m.triggerFetch(`commit ${i}`));
      }
      await Promise.all(triggers);
      await m.triggerFetch('final');
      assert.equal(holder.current()?.revision, last);
      assert.equal(bobMonthly(holder), 1020);
    } finally {
      running = false;
      await load;
      await m.stop();
    }
    assert.deepEqual(failures, []);
    assert.ok(evaluations > 0);
  });

  test('a force-push is followed', async () => {
    const repo = policyRepo();
    const { m, holder } = manager(repo.remote);
    await m.start();
    try {
      const first = repo.change('keys/app-dev.yaml', setBobBudget(310), 'To be rewritten');
      await m.triggerFetch('test');
      assert.equal(holder.current()?.revision, first);
      git(repo.work, 'reset', '--quiet', '--hard', 'HEAD~1');
      writeFileSync(
        join(repo.work, 'keys', 'app-dev.yaml'),
        setBobBudget(420)(git(repo.work, 'show', 'HEAD:keys/app-dev.yaml')),
      );
      const rewritten = repo.commit('Rewritten history');
      repo.push(true);
      await m.triggerFetch('test');
      assert.equal(holder.current()?.revision, rewritten);
      assert.equal(bobMonthly(holder), 420);
    } finally {
      await m.stop();
    }
  });

  test('restart with the remote gone serves the last good revision; with nothing valid it stays not ready', async () => {
    const repo = policyRepo();
    const first = manager(repo.remote);
    await first.m.start();
    const good = repo.change('keys/app-dev.yaml', setBobBudget(333), 'Last good');
    await first.m.triggerFetch('test');
    assert.equal(first.holder.current()?.revision, good);
    await first.m.stop();

    renameSync(repo.remote, `${repo.remote}.gone`);
    const second = manager(repo.remote, { dataDir: first.dataDir, retryBaseSeconds: 60 });
    await second.m.start();
    try {
      assert.equal(second.holder.current()?.revision, good);
      assert.equal(bobMonthly(second.holder), 333);
      const status = second.m.status();
      assert.match(status.lastError?.message ?? '', /fetch/);
      assert.equal(status.consecutiveFailures, 1);
      assert.match(
        await second.registry.metrics(),
        /portcullis_policy_reload_failures_total\{reason="fetch"\} 1/,
      );
    } finally {
      await second.m.stop();
    }

    const fresh = manager(repo.remote, { retryBaseSeconds: 60 });
    await fresh.m.start();
    try {
      assert.equal(fresh.holder.current(), undefined);
      assert.equal(fresh.m.status().ready, false);
    } finally {
      await fresh.m.stop();
    }
  });

  test('an unreachable remote is retried with backoff and picked up when it returns', async () => {
    const repo = policyRepo();
    renameSync(repo.remote, `${repo.remote}.away`);
    const { m, holder } = manager(repo.remote, { retryBaseSeconds: 0.05, maxBackoffSeconds: 0.2 });
    await m.start();
    try {
      assert.equal(holder.current(), undefined);
      await waitFor('a few retries', () => m.status().consecutiveFailures >= 3);
      renameSync(`${repo.remote}.away`, repo.remote);
      await waitFor('the returning remote', () => holder.current() !== undefined);
      assert.equal(holder.current()?.revision, git(repo.work, 'rev-parse', 'HEAD'));
      assert.equal(m.status().lastError, undefined);
    } finally {
      await m.stop();
    }
  });

  test('credentials in the remote URL never reach status or logs', async () => {
    const url = 'https://deploy:ghp_supersecrettoken123@127.0.0.1:9/acme/policy.git';
    const { m, lines } = manager(url, { retryBaseSeconds: 60 });
    await m.start();
    try {
      const status = JSON.stringify(m.status());
      assert.match(status, /fetch/);
      assert.doesNotMatch(status, /supersecret/);
      assert.ok(lines.length > 0);
      assert.ok(lines.every((l) => !l.includes('supersecret')));
    } finally {
      await m.stop();
    }
  });
});

test('git sync works with EDITOR set, as it is under npm scripts', async () => {
  const saved = process.env.EDITOR;
  process.env.EDITOR = 'vi';
  try {
    const repo = policyRepo();
    const holder = new SnapshotHolder();
    const manager = createPolicyManager({
      source: { kind: 'git', url: repo.remote },
      holder,
      dataDir: tempDir('editor'),
      pollSeconds: 0,
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
    });
    await manager.start();
    await manager.stop();
    assert.equal(manager.status().lastError, undefined);
    assert.equal(holder.current()?.revision, git(repo.work, 'rev-parse', 'HEAD'));
  } finally {
    if (saved === undefined) delete process.env.EDITOR;
    else process.env.EDITOR = saved;
  }
});
