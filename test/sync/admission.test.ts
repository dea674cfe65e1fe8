// A revision is admitted only if its own Rego tests pass and its decision answers every canary,
// well-formed and in time; one that runs away later, on a call no canary foresaw, is quarantined and
// the last good revision serves again, also after a restart with it at the source's head.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SnapshotHolder } from '../../src/gateway/snapshot-holder.ts';
import { DecisionTimeoutError } from '../../src/policy/isolated-decider.ts';
import { DecisionError } from '../../src/policy/wasm-policy.ts';
import { createPolicyManager } from '../../src/sync/manager.ts';
import {
  ANONYMOUS_CALL,
  AUTHENTICATED_CALL,
  collectingLogger,
  git,
  policyRepo,
  tempDir,
  waitFor,
} from './helpers.ts';

const DENIAL = `{"priority": 1, "status": 403, "code": "x", "message": "x"}`;
/** Ten billion steps: never finishes in practice. */
const RUNAWAY =
  'count([x | some x in numbers.range(1, 100000); some y in numbers.range(1, 100000); x == y]) < 0';
/** Three million elements: finishes, in a few hundred ms per decision. */
const SLOW = 'count([x | some x in numbers.range(1, 3000000)]) < 0';

const BAD_COMMITS: { name: string; file: string; edit: (text: string) => string; reason: RegExp }[] = [
  {
    name: 'a rule that never terminates',
    file: 'rego/extra.rego',
    edit: () => `package portcullis.gateway\n\ndenials contains ${DENIAL} if {\n\t${RUNAWAY}\n}\n`,
    reason: /did not finish within 1000 ms|evaluating the decision failed/,
  },
  {
    name: 'a slow but finite rule',
    file: 'rego/extra.rego',
    edit: () => `package portcullis.gateway\n\ndenials contains ${DENIAL} if {\n\t${SLOW}\n}\n`,
    reason: /took \d+ ms, over the 50 ms budget|did not finish within 1000 ms/,
  },
  {
    name: 'a decision that is always undefined',
    file: 'rego/decision.rego',
    edit: (t) => t.replace('decision := result if {', 'decision := result if {\n\tinput.never_sent'),
    reason: /decision is undefined/,
  },
  {
    name: 'two conflicting values for the decision',
    file: 'rego/extra.rego',
    edit: () =>
      'package portcullis.gateway\n\ndecision := {"allow": true, "status": 200, "code": "ok", "reasons": [], "redact": [], "stripTools": []} if input.surface\n',
    reason: /evaluating the decision failed: .*conflict/,
  },
  {
    name: 'an ill-formed decision (status as a string)',
    file: 'rego/decision.rego',
    edit: (t) => t.replace('"status": status_of(ordered),', '"status": sprintf("%d", [status_of(ordered)]),'),
    reason: /decision.status is not an HTTP status/,
  },
  {
    name: 'a failing Rego test',
    file: 'rego/extra_test.rego',
    edit: () => 'package portcullis.gateway_test\n\ntest_breaks if {\n\t1 == 2\n}\n',
    reason: /Rego test data.portcullis.gateway_test.test_breaks fails/,
  },
];

function write(work: string, file: string, edit: (text: string) => string): void {
  const path = join(work, file);
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {}
  writeFileSync(path, edit(text));
}

describe('admission of a revision', () => {
  test('revisions that cannot decide are rejected with the reason; the last good one keeps serving', async () => {
    const repo = policyRepo();
    const good = git(repo.work, 'rev-parse', 'HEAD');
    const holder = new SnapshotHolder();
    const { logger, registry, lines } = collectingLogger();
    const m = createPolicyManager({
      source: { kind: 'git', url: repo.remote },
      holder,
      dataDir: tempDir('data'),
      pollSeconds: 0,
      logger,
      registry,
    });
    await m.start();
    try {
      assert.equal(holder.current()?.revision, good);
      for (const bad of BAD_COMMITS) {
        git(repo.work, 'reset', '--quiet', '--hard', good);
        write(repo.work, bad.file, bad.edit);
        const sha = repo.commit(bad.name);
        repo.push(true);
        const started = performance.now();
        await m.triggerFetch('test');
        const status = m.status();
        assert.equal(status.rejected?.revision, sha, bad.name);
        assert.match(status.rejected.problems.map((p) => p.message).join('\n'), bad.reason, bad.name);
        assert.equal(holder.current()?.revision, good, `${bad.name}: the last good revision serves`);
        assert.equal(holder.current()?.evaluate(ANONYMOUS_CALL).status, 401);
        assert.ok(performance.now() - started < 60_000, `${bad.name}: decided in time`);
      }
      const metrics = await registry.getSingleMetricAsString('portcullis_policy_reload_failures_total');
      assert.match(metrics, /reason="inadmissible"} 6/);
      assert.ok(lines.some((l) => l.includes('policy revision rejected') && l.includes('inadmissible')));
    } finally {
      await m.stop();
    }
  });

  test('a decision that runs away while serving fails its call closed and quarantines the revision, also across a restart', async () => {
    const repo = policyRepo();
    const good = git(repo.work, 'rev-parse', 'HEAD');
    const dataDir = tempDir('data');
    const holder = new SnapshotHolder();
    const { logger, registry } = collectingLogger();
    const options = { source: { kind: 'git' as const, url: repo.remote }, dataDir, pollSeconds: 0, logger };
    const m = createPolicyManager({ ...options, holder, registry });
    await m.start();
    let trap: string;
    try {
      write(
        repo.work,
        'rego/extra.rego',
        () =>
          `package portcullis.gateway\n\ndenials contains ${DENIAL} if {\n\tinput.userAgent == "detonate"\n\t${RUNAWAY}\n}\n`,
      );
      trap = repo.commit('A rule only one client reaches');
      repo.push();
      await m.triggerFetch('test');
      const snapshot = holder.current()!;
      assert.equal(snapshot.revision, trap, 'every canary decides, so it is admitted');
      assert.match(m.status().active?.decisions ?? '', /gateway's thread, metered/);

      const started = performance.now();
      assert.throws(
        () => snapshot.evaluate({ ...AUTHENTICATED_CALL, userAgent: 'detonate' }),
        DecisionTimeoutError,
      );
      // The budget is CPU time: on a busy host the wall-clock wait is longer, but bounded (1 s limit).
      assert.ok(performance.now() - started < 5000, 'the call is refused, not left waiting');
      // Meanwhile this revision refuses at once rather than deciding again.
      assert.throws(() => snapshot.evaluate(ANONYMOUS_CALL), DecisionError);
      await waitFor('the quarantine', () => holder.current()?.revision === good);
      assert.equal(holder.current()?.evaluate(ANONYMOUS_CALL).status, 401);
      assert.match(m.status().rejected?.problems[0]?.message ?? '', /quarantined while serving: .*budget/);
      assert.equal(m.status().rejected?.revision, trap);
    } finally {
      await m.stop();
    }

    // A restart with the quarantined commit at the head serves the last good revision.
    const holder2 = new SnapshotHolder();
    const second = collectingLogger();
    const m2 = createPolicyManager({
      ...options,
      holder: holder2,
      logger: second.logger,
      registry: second.registry,
    });
    await m2.start();
    try {
      assert.equal(holder2.current()?.revision, good);
      assert.equal(m2.status().rejected?.revision, trap);
    } finally {
      await m2.stop();
    }
  });
});
