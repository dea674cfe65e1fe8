// The Rego decision compiled to Wasm, evaluated in-process with OPA's Wasm SDK.
import { type LoadedPolicy, loadPolicy } from '@open-policy-agent/opa-wasm';
import type { Decision, DecisionInput } from './decision.ts';
import { evaluateInput, hasOpaEval, inputBytes, opaExports } from './opa-abi.ts';
import { hostBuiltins, WASM_MAX_PAGES } from './wasm-builtins.ts';

export class DecisionError extends Error {}

export interface WasmDecider {
  evaluate(input: DecisionInput): Decision;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The SDK's own ABI 1.2 evaluation (`opa_eval`: input JSON in, result JSON out) without its per-call
 * allocations (opa-abi.ts). Most calls get the same answer (the plain allow), so the last few
 * distinct answers are kept with their bytes and handed out again, frozen, when the policy writes the
 * same bytes. Policies built for an older ABI use the SDK's evaluate.
 */
function fastEvaluator(policy: LoadedPolicy): ((input: unknown) => unknown) | undefined {
  if (!hasOpaEval(policy)) return undefined;
  const exports = opaExports(policy);
  const recent: { bytes: Buffer; result: unknown }[] = [];
  return (input) => {
    const json = JSON.stringify(input);
    // UTF-8 needs at most three bytes per UTF-16 unit.
    const { written } = encoder.encodeInto(json, inputBytes(policy, json.length * 3));
    const bytes = evaluateInput(policy, exports, written);
    for (const r of recent) if (r.bytes.equals(bytes)) return r.result;
    const result = deepFreeze(JSON.parse(decoder.decode(bytes)));
    if (recent.length >= RECENT_RESULTS) recent.pop();
    recent.unshift({ bytes: Buffer.from(bytes), result });
    return result;
  };
}

const RECENT_RESULTS = 4;

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export async function loadDecider(wasm: Buffer, data: unknown): Promise<WasmDecider> {
  const policy: LoadedPolicy = await loadPolicy(wasm, { initial: 16, maximum: WASM_MAX_PAGES }, hostBuiltins);
  policy.setData(data as object);
  const run = fastEvaluator(policy) ?? ((input: unknown) => policy.evaluate(input));
  return {
    evaluate(input: DecisionInput): Decision {
      const results = run(input) as { result?: Decision }[] | undefined;
      const decision = results?.[0]?.result;
      if (!decision || typeof decision.allow !== 'boolean') {
        // An undefined decision is a policy bug; refuse rather than guess.
        throw new DecisionError(
          'the policy returned no decision (data.portcullis.gateway.decision is undefined)',
        );
      }
      return decision;
    },
  };
}
