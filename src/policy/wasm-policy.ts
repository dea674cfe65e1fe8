// The Rego decision compiled to Wasm, evaluated in-process with OPA's Wasm SDK.
import { type LoadedPolicy, loadPolicy } from '@open-policy-agent/opa-wasm';
import type { Decision, DecisionInput } from './decision.ts';

/** Builtins the OPA Wasm runtime leaves to its host. */
const hostBuiltins: Record<string, (...args: unknown[]) => unknown> = {
  'time.now_ns': () => Date.now() * 1_000_000,
  'time.parse_rfc3339_ns': (value: unknown) => {
    const ms = Date.parse(String(value));
    if (Number.isNaN(ms)) throw new Error(`time.parse_rfc3339_ns: cannot parse ${JSON.stringify(value)}`);
    return ms * 1_000_000;
  },
};

export class DecisionError extends Error {}

export interface WasmDecider {
  evaluate(input: DecisionInput): Decision;
}

export async function loadDecider(wasm: Buffer, data: unknown): Promise<WasmDecider> {
  const policy: LoadedPolicy = await loadPolicy(wasm, { initial: 16 }, hostBuiltins);
  policy.setData(data as object);
  return {
    evaluate(input: DecisionInput): Decision {
      const results = policy.evaluate(input);
      const decision = results?.[0]?.result as Decision | undefined;
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
