// The decision runs in a worker thread: answers are the policy's, and a rule that never ends fails its
// calls closed at the budget, never blocks the event loop for longer, and faults the revision.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildSnapshot } from '../../src/policy/build-snapshot.ts';
import type { DecisionInput } from '../../src/policy/decision.ts';
import { DecisionTimeoutError } from '../../src/policy/isolated-decider.ts';
import { DecisionError } from '../../src/policy/wasm-policy.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';
import { ANONYMOUS_CALL, AUTHENTICATED_CALL } from '../sync/helpers.ts';

const TRAP = `package portcullis.gateway

denials contains {"priority": 1, "status": 403, "code": "x", "message": "x"} if {
\tinput.userAgent == "detonate"
\tcount([x | some x in numbers.range(1, 100000); some y in numbers.range(1, 100000); x == y]) < 0
}
`;

// The trap is set for an authenticated call: a refused one is told only why, its other rules unread.
const call = (model: string, userAgent?: string): DecisionInput => ({
  ...(userAgent === 'detonate' ? AUTHENTICATED_CALL : ANONYMOUS_CALL),
  model,
  userAgent,
});

/** Longest gap between ticks of a 5 ms interval while `work` runs: how long the event loop was blocked. */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return worst;
}

describe('decisions in a worker thread', async () => {
  const { dir } = examplePolicyCopy();
  writeFileSync(join(dir, 'rego', 'trap.rego'), TRAP);
  const snapshot = await buildSnapshot({ dir, env: { PORTCULLIS_DECISION_BUDGET_MS: '50' } });
  const decider = snapshot.decider!;

  test('a batch decided in the worker gives each call the decision for its own input', async () => {
    const inputs = ['gpt-5-mini', 'claude-opus-4-5', 'nope', 'gemini-2.5-flash'].map((m) => call(m));
    const batched = await Promise.all(inputs.map((i) => decider.decide(i)));
    assert.deepEqual(batched, inputs.map(snapshot.evaluate));
    assert.equal(batched[0].status, 401);
  });

  test('a rule that never ends fails its batch closed at the budget without blocking the event loop, then faults', async () => {
    let rejection: unknown;
    const stall = await longestStall(async () => {
      const started = performance.now();
      const results = await Promise.allSettled([
        decider.decide(call('gpt-5-mini', 'detonate')),
        decider.decide(call('x')),
      ]);
      rejection = results[0].status === 'rejected' ? results[0].reason : undefined;
      assert.equal(results[1].status, 'rejected', 'the batch fails closed as a whole');
      // CPU-time budget: on a busy host the wall-clock wait is longer, but bounded.
      assert.ok(performance.now() - started < 5000, 'refused, not left waiting');
      // Calls meanwhile are refused at once.
      assert.throws(() => snapshot.evaluate(call('gpt-5-mini')), DecisionTimeoutError);
      while (decider.fault === undefined) await new Promise((r) => setTimeout(r, 20));
    });
    assert.ok(rejection instanceof DecisionTimeoutError, String(rejection));
    // Far below the runaway's seconds; what is left is this machine's own scheduling noise.
    assert.ok(stall < 1000, `the event loop stalled ${stall.toFixed(0)} ms`);
    assert.match(decider.fault ?? '', /ran past its 50 ms budget/);
    assert.throws(() => snapshot.evaluate(call('gpt-5-mini')), DecisionError);
    await assert.rejects(decider.decide(call('gpt-5-mini')), /no longer decides/);
  });

  test('a lone call that runs away is refused within its budget', async () => {
    const again = await buildSnapshot({ dir, env: { PORTCULLIS_DECISION_BUDGET_MS: '50' } });
    const started = performance.now();
    assert.throws(() => again.evaluate(call('gpt-5-mini', 'detonate')), DecisionTimeoutError);
    assert.ok(performance.now() - started < 5000);
    await again.decider!.close();
  });
});
