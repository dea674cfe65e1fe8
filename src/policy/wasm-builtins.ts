// What every OPA Wasm instance of the decision gets from its host, in-process or in a decision worker.

/** Builtins the OPA Wasm runtime leaves to its host. */
export const hostBuiltins: Record<string, (...args: unknown[]) => unknown> = {
  'time.now_ns': () => Date.now() * 1_000_000,
  'time.parse_rfc3339_ns': (value: unknown) => {
    const ms = Date.parse(String(value));
    if (Number.isNaN(ms)) throw new Error(`time.parse_rfc3339_ns: cannot parse ${JSON.stringify(value)}`);
    return ms * 1_000_000;
  },
};

/** A decision may use at most 1 GiB of Wasm memory (64 KiB pages); past that it fails instead of taking the host's memory. */
export const WASM_MAX_PAGES = 16_384;
