// The decision evaluated on the gateway's own thread, with a fuel gauge in the Wasm (wasm-fuel.ts)
// instead of a worker thread between it and the caller. A lone call then pays for the evaluation only,
// not for waking a sleeping thread (measured: 69 µs p50 and 252 µs p90 after 1 ms of idleness, where
// the evaluation itself is ~20 µs). Each evaluation gets the fuel that a budget's worth of the
// costliest code known (a loop in a native builtin) burns; a decision that runs out traps, fails its
// call closed, and the revision is quarantined by its decider.
//
// Only a revision whose host-side builtins all run in bounded time is metered: a builtin written in
// JavaScript runs outside the gauge, and the SDK's `regex.split` (a backtracking JavaScript RegExp)
// or `yaml.unmarshal` (aliases) could run long on one call. Those revisions keep the worker thread.
import { type LoadedPolicy, loadPolicy } from '@open-policy-agent/opa-wasm';
import { evaluateInput, hasOpaEval, hostBuiltinNames, inputBytes, opaExports } from './opa-abi.ts';
import { hostBuiltins, WASM_MAX_PAGES } from './wasm-builtins.ts';
import { FUEL_EXPORT, meterWasm, UnmeterableWasmError } from './wasm-fuel.ts';

/** Builtins a policy may call on the host and still be evaluated on the gateway's thread. */
const BOUNDED_HOST_BUILTINS = new Set(['time.now_ns', 'time.parse_rfc3339_ns', 'sprintf', 'json.is_valid']);

/**
 * Fuel per millisecond of budget. A unit is an instruction the code may run, an upper bound: a loop
 * pays for every instruction in its body, taken or not, and a call into a host builtin counts as one.
 * Measured on a 2-core VM, comprehensions burn 2.4 million units per ms when each element calls `sprintf` (host JavaScript),
 * 5–23 million over `numbers.range`, and 42–60 million in nested loops; the example policy's decision
 * uses ~0.7 million in ~17 µs. At 4 million per ms, a decision gets about its budget in time where
 * fuel burns slowest and stops far sooner in pure Wasm loops: a 50 ms budget is 200 million units.
 */
export const FUEL_PER_MS = 4_000_000;
/** The gauge is an i32. */
const MAX_FUEL = 2 ** 31 - 1;

/** A decision ran out of fuel: its call is refused and the revision no longer decides. */
export class FuelExhaustedError extends Error {
  override name = 'FuelExhaustedError';
}

export interface MeteredEvaluator {
  /** OPA's result set for `input` as JSON bytes (valid until the next call), or a throw. */
  evaluate(inputJson: string): Uint8Array;
  /** The fuel each evaluation gets. */
  readonly fuel: number;
  /** What the last evaluation left of it (below zero when it ran out). */
  readonly fuelLeft: number;
}

const encoder = new TextEncoder();

/**
 * Loads the revision's Wasm with a fuel gauge; the reason instead when it cannot be evaluated on the
 * gateway's thread (an instruction the meter does not know, a host builtin that may run unbounded).
 */
export async function loadMeteredEvaluator(
  wasm: Uint8Array,
  dataJson: Uint8Array,
  budgetMs: number,
  fuelPerMs = FUEL_PER_MS,
): Promise<MeteredEvaluator | { unmeterable: string }> {
  let metered: Uint8Array;
  try {
    metered = meterWasm(wasm);
  } catch (err) {
    if (err instanceof UnmeterableWasmError) return { unmeterable: err.message };
    throw err;
  }
  const policy: LoadedPolicy = await loadPolicy(
    metered.buffer as ArrayBuffer,
    { initial: 16, maximum: WASM_MAX_PAGES },
    hostBuiltins,
  );
  if (!hasOpaEval(policy)) return { unmeterable: 'the policy was built for OPA Wasm ABI < 1.2' };
  const exports = opaExports(policy);
  const gauge = (exports as unknown as Record<string, { value: number } | undefined>)[FUEL_EXPORT];
  if (gauge === undefined) return { unmeterable: 'the fuel gauge is missing' };
  const unbounded = hostBuiltinNames(policy, exports).filter((b) => !BOUNDED_HOST_BUILTINS.has(b));
  if (unbounded.length > 0) {
    return {
      unmeterable: `it calls builtins that run in JavaScript without a bound: ${unbounded.join(', ')}`,
    };
  }
  // Loading the data runs metered code too, on the full gauge the module starts with.
  policy.setData(
    dataJson.buffer.slice(dataJson.byteOffset, dataJson.byteOffset + dataJson.byteLength) as ArrayBuffer,
  );
  const fuel = Math.min(MAX_FUEL, Math.max(1, Math.round(budgetMs * fuelPerMs)));
  return {
    fuel,
    get fuelLeft() {
      return gauge.value;
    },
    evaluate(inputJson: string): Uint8Array {
      // UTF-8 needs at most three bytes per UTF-16 unit.
      const { written } = encoder.encodeInto(inputJson, inputBytes(policy, inputJson.length * 3));
      gauge.value = fuel;
      try {
        return evaluateInput(policy, exports, written);
      } catch (err) {
        if (gauge.value < 0)
          throw new FuelExhaustedError(`the decision ran out of its ${fuel} units of fuel`);
        throw err;
      }
    },
  };
}
