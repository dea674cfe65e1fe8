// The fuel gauge put into a policy's Wasm: it bounds what a decision may run on the gateway's thread,
// exactly by the instructions the code may execute, and changes nothing else.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { decideCanaries } from '../../src/policy/admit.ts';
import { buildSnapshot } from '../../src/policy/build-snapshot.ts';
import { syntheticCanaries } from '../../src/policy/canary.ts';
import type { DecisionInput } from '../../src/policy/decision.ts';
import { DecisionTimeoutError } from '../../src/policy/isolated-decider.ts';
import { FUEL_EXPORT, meterWasm, UnmeterableWasmError } from '../../src/policy/wasm-fuel.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';
import { ANONYMOUS_CALL, AUTHENTICATED_CALL } from '../sync/helpers.ts';

// The runtime has WebAssembly; the project's TypeScript lib settings do not describe it.
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
}

// (func (export "spin") (param i32) (loop local.get 0 i32.const 1 i32.sub local.tee 0 br_if 0))
// spin(n) runs the loop n times. Outside the loop: `loop` and the function's `end` (2 instructions);
// inside it: five and the loop's `end` (6). So spin(n) may run 2 + 6n instructions.
const SPIN = Uint8Array.of(
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...[0x01, 0x05, 0x01, 0x60, 0x01, 0x7f, 0x00], // type: (i32) -> ()
  ...[0x03, 0x02, 0x01, 0x00], // function 0 has type 0
  ...[0x07, 0x08, 0x01, 0x04, 0x73, 0x70, 0x69, 0x6e, 0x00, 0x00], // export "spin"
  ...[
    0x0a, 0x10, 0x01, 0x0e, 0x00, 0x03, 0x40, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00, 0x0b,
    0x0b,
  ],
);

function meteredSpin() {
  const { exports } = new Wasm.Instance(new Wasm.Module(meterWasm(SPIN)));
  return { spin: exports.spin as (n: number) => void, gauge: exports[FUEL_EXPORT] as { value: number } };
}

describe('the fuel gauge', () => {
  test('a module without globals gets a valid gauge, exported, starting full', () => {
    const metered = meterWasm(SPIN);
    assert.ok(Wasm.validate(metered));
    const { gauge } = meteredSpin();
    assert.equal(gauge.value, 2 ** 31 - 1);
  });

  test('fuel is exactly the instructions the code may run: enough completes, one unit less traps', () => {
    const { spin, gauge } = meteredSpin();
    for (const n of [1, 7, 1000]) {
      gauge.value = 2 + 6 * n;
      spin(n);
      assert.equal(gauge.value, 0, `spin(${n}) used all of its fuel and no more`);
      gauge.value = 2 + 6 * n - 1;
      assert.throws(() => spin(n), /unreachable/);
      assert.ok(gauge.value < 0);
    }
  });

  test('a module with an instruction the meter does not know is refused, not metered wrongly', () => {
    // The spin module with its `i32.sub` replaced by a SIMD prefix.
    const simd = SPIN.slice();
    simd[simd.indexOf(0x6b, 40)] = 0xfd;
    assert.throws(() => meterWasm(simd), UnmeterableWasmError);
    assert.throws(() => meterWasm(Uint8Array.of(1, 2, 3)), UnmeterableWasmError);
  });
});

const RUNAWAY = `package portcullis.gateway

denials contains {"priority": 1, "status": 403, "code": "x", "message": "x"} if {
\tinput.userAgent == "detonate"
\tcount([x | some x in numbers.range(1, 100000); some y in numbers.range(1, 100000); x == y]) < 0
}
`;

const call = (model: string, userAgent?: string): DecisionInput => ({
  ...(userAgent === undefined ? ANONYMOUS_CALL : AUTHENTICATED_CALL),
  model,
  userAgent,
});

describe('decisions on the gateway thread, metered', async () => {
  const { dir } = examplePolicyCopy();
  writeFileSync(join(dir, 'rego', 'runaway.rego'), RUNAWAY);
  const env = { PORTCULLIS_DECISION_BUDGET_MS: '50' };

  test('decide as the unmetered policy does', async () => {
    const metered = await buildSnapshot({ dir, env });
    const plain = await buildSnapshot({ dir, env: { ...env, PORTCULLIS_DECISIONS_IN_WORKER: '1' } });
    assert.equal(metered.decider?.onCallersThread, true, metered.decider?.unmetered ?? '');
    assert.equal(plain.decider?.onCallersThread, false);
    const inputs = [
      call('gpt-5-mini'),
      call('gpt-5-mini', 'claude-cli/2.1'),
      call('claude-opus-4-5', 'codex'),
      call('no-such-model', 'x'),
    ];
    for (const input of inputs) assert.deepEqual(metered.evaluate(input), plain.evaluate(input));
    assert.equal(metered.evaluate(inputs[0]).status, 401);
    await metered.decider?.close();
    await plain.decider?.close();
  });

  test('once admitted, a metered revision lets its worker go and still decides, timed evaluations too', async () => {
    const snapshot = await buildSnapshot({ dir, env });
    const decider = snapshot.decider!;
    const before = await decider.evaluateTimed(call('gpt-5-mini', 'codex'));
    decider.releaseWorker();
    let faulted: string | undefined;
    decider.onFault = (why) => {
      faulted = why;
    };
    // The worker's exit is no fault.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(faulted, undefined);
    const after = await decider.evaluateTimed(call('gpt-5-mini', 'codex'));
    assert.ok(before.ok && after.ok);
    assert.deepEqual(after.value, before.value);
    const runaway = await decider.evaluateTimed(call('gpt-5-mini', 'detonate'));
    assert.ok(!runaway.ok && runaway.timedOut);
    await decider.close();
  });

  test('a rule that never ends is stopped by its fuel on this thread, refused, and faults the revision', async () => {
    const snapshot = await buildSnapshot({ dir, env });
    const decider = snapshot.decider!;
    assert.equal(decider.onCallersThread, true);
    let faulted: string | undefined;
    decider.onFault = (why) => {
      faulted = why;
    };
    const started = performance.now();
    assert.throws(() => snapshot.evaluate(call('gpt-5-mini', 'detonate')), DecisionTimeoutError);
    // Stopped by fuel, not by a clock: the rule would run for minutes.
    assert.ok(performance.now() - started < 5000);
    assert.match(faulted ?? '', /used up the fuel of its 50 ms budget/);
    assert.throws(() => snapshot.evaluate(call('gpt-5-mini')), /no longer decides/);
    await decider.close();
  });

  test('admission refuses a revision whose decisions need more fuel than their budget gives on this thread', async () => {
    const { dir: example } = examplePolicyCopy();
    const starved = await buildSnapshot({
      dir: example,
      env: { ...env, PORTCULLIS_DECISION_FUEL_PER_MS: '1000' },
    });
    const fed = await buildSnapshot({ dir: example, env });
    // The worker decides them all within the 50 ms budget; only the fuel differs.
    const refused = await decideCanaries(starved, syntheticCanaries(starved));
    assert.match(
      refused.problems[0]?.message ?? '',
      /needs more than the 50,000 units of fuel a 50 ms budget gives/,
    );
    assert.equal(starved.decider?.fault, undefined, 'a probe faults nothing');
    assert.deepEqual((await decideCanaries(fed, syntheticCanaries(fed))).problems, []);
    await starved.decider?.close();
    await fed.decider?.close();
  });

  test('a policy that calls a JavaScript builtin without a bound is decided in its worker', async () => {
    const copy = examplePolicyCopy().dir;
    const dir = examplePolicyCopy().dir;
    writeFileSync(
      join(copy, 'rego', 'split.rego'),
      `package portcullis.gateway

warnings contains w if {
\tsome w in regex.split("-", object.get(input, "userAgent", ""))
\tw == "never"
}
`,
    );
    const snapshot = await buildSnapshot({ dir: copy, env });
    const decider = snapshot.decider!;
    assert.equal(decider.onCallersThread, false);
    assert.match(decider.unmetered ?? '', /regex\.split/);
    // The extra rule adds no warning for this agent: the decision is the example policy's.
    const example = await buildSnapshot({ dir, env });
    const input = call('claude-opus-4-5', 'a-b');
    assert.deepEqual(snapshot.evaluate(input), example.evaluate(input));
    await decider.close();
    await example.decider?.close();
  });
});
