// OPA's Wasm ABI ≥ 1.2 called directly, past the SDK's evaluate: the input's JSON bytes are put into
// Wasm memory at the heap start and `opa_eval` returns the result set's JSON, with no per-call
// allocation of the SDK's. Shared by every place a decision is evaluated (in-process, metered on the
// gateway's thread, in the decision worker).
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';

/** The exports of a policy module this code calls. */
export interface OpaExports {
  opa_eval(
    reserved: number,
    entrypoint: number,
    data: number,
    input: number,
    inputLen: number,
    heap: number,
    format: number,
  ): number;
  opa_json_dump(addr: number): number;
  builtins(): number;
}

/** Whether the policy was built for an ABI with `opa_eval` (1.2 or later). */
export function hasOpaEval(policy: LoadedPolicy): boolean {
  return Number(policy.minorVersion) >= 2;
}

export function opaExports(policy: LoadedPolicy): OpaExports {
  return (policy.wasmInstance as unknown as { exports: OpaExports }).exports;
}

/** Memory for `length` bytes of input at the heap start, grown if needed: where to write them. */
export function inputBytes(policy: LoadedPolicy, length: number): Uint8Array {
  const addr: number = policy.dataHeapPtr;
  const room = addr + length - policy.mem.buffer.byteLength;
  if (room > 0) policy.mem.grow(Math.ceil(room / 65536));
  return new Uint8Array(policy.mem.buffer, addr, length);
}

/**
 * Evaluates the `length` input bytes written at the heap start: the result set's JSON bytes, valid
 * until the next call.
 */
export function evaluateInput(policy: LoadedPolicy, exports: OpaExports, length: number): Uint8Array {
  const addr: number = policy.dataHeapPtr;
  return cString(policy.mem, exports.opa_eval(0, 0, policy.dataAddr, addr, length, addr + length, 0));
}

/** The builtins the policy leaves to its host, by name. */
export function hostBuiltinNames(policy: LoadedPolicy, exports: OpaExports): string[] {
  const json = cString(policy.mem, exports.opa_json_dump(exports.builtins()));
  return Object.keys(JSON.parse(new TextDecoder().decode(json)) as object);
}

/** The NUL-terminated bytes at `addr`. */
function cString(mem: { buffer: ArrayBuffer }, addr: number): Uint8Array {
  const all = new Uint8Array(mem.buffer, addr);
  return all.subarray(0, all.indexOf(0));
}
