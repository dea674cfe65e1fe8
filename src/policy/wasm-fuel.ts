// Puts a fuel gauge into a compiled policy, so that it can be evaluated on the gateway's own thread and
// still never stall it: every function entry and every loop iteration takes from an exported global as
// many units as it may run instructions before the next such point, and the code traps (`unreachable`)
// when the gauge goes below zero. A decision's running time is then bounded by the fuel it is given,
// whatever the Rego says.
//
// Written here rather than taken from a library: the npm metering packages rewrite through a full
// module AST (slow on OPA's ~400 KB runtime, and unmaintained), while this needs only to step over
// instructions and splice bytes. Instructions it does not know (SIMD, atomics, GC) make the module
// unmeterable, and the caller keeps evaluating it in a worker thread instead.

/** The export through which the caller sets and reads the fuel gauge. */
export const FUEL_EXPORT = 'portcullis_fuel';

export class UnmeterableWasmError extends Error {
  override name = 'UnmeterableWasmError';
}

const SECTION_IMPORT = 2;
const SECTION_GLOBAL = 6;
const SECTION_EXPORT = 7;
const SECTION_CODE = 10;
/** Where a section of each id may stand (the tag section, 13, sits between memory and global). */
const SECTION_ORDER: Record<number, number> = {
  1: 1,
  2: 2,
  3: 3,
  4: 4,
  5: 5,
  13: 6,
  6: 7,
  7: 8,
  8: 9,
  9: 10,
  12: 11,
  10: 12,
  11: 13,
};

const VALTYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f]);

/** Returns a copy of `wasm` whose code takes fuel from a new exported, mutable i32 global. */
export function meterWasm(wasm: Uint8Array): Uint8Array {
  if (wasm.length < 8 || wasm[0] !== 0 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d) {
    throw new UnmeterableWasmError('not a WebAssembly module');
  }
  const sections: { id: number; body: Uint8Array }[] = [];
  const r = new Reader(wasm, 8);
  while (r.pos < wasm.length) {
    const id = r.byte();
    const size = r.u32();
    sections.push({ id, body: wasm.subarray(r.pos, r.pos + size) });
    r.pos += size;
  }
  if (r.pos !== wasm.length) throw new UnmeterableWasmError('a section runs past the end of the module');

  const importedGlobals = countImportedGlobals(sections.find((s) => s.id === SECTION_IMPORT)?.body);
  const globals = sections.find((s) => s.id === SECTION_GLOBAL);
  const definedGlobals = globals ? new Reader(globals.body, 0).u32() : 0;
  const fuel = importedGlobals + definedGlobals;
  const fuelBytes = leb(fuel);

  const out: Uint8Array[] = [wasm.subarray(0, 8)];
  const put = (id: number, body: Uint8Array) => out.push(Uint8Array.of(id), leb(body.length), body);
  let globalDone = false;
  let exportDone = false;
  // A module without a global or export section gets one, in its place in the section order.
  const addMissing = (beforeOrder: number) => {
    if (!globalDone && SECTION_ORDER[SECTION_GLOBAL] < beforeOrder) {
      put(SECTION_GLOBAL, withFuelGlobal(undefined));
      globalDone = true;
    }
    if (!exportDone && SECTION_ORDER[SECTION_EXPORT] < beforeOrder) {
      put(SECTION_EXPORT, withFuelExport(undefined, fuelBytes));
      exportDone = true;
    }
  };
  for (const s of sections) {
    if (s.id !== 0) addMissing(SECTION_ORDER[s.id] ?? 0);
    if (s.id === SECTION_GLOBAL) {
      put(s.id, withFuelGlobal(s.body));
      globalDone = true;
    } else if (s.id === SECTION_EXPORT) {
      put(s.id, withFuelExport(s.body, fuelBytes));
      exportDone = true;
    } else if (s.id === SECTION_CODE) {
      put(s.id, meteredCode(s.body, fuelBytes));
    } else {
      put(s.id, s.body);
    }
  }
  addMissing(Number.POSITIVE_INFINITY);
  return concat(out);
}

function countImportedGlobals(body: Uint8Array | undefined): number {
  if (body === undefined) return 0;
  const r = new Reader(body, 0);
  let globals = 0;
  for (let n = r.u32(); n > 0; n--) {
    r.skip(r.u32()); // module name
    r.skip(r.u32()); // field name
    const kind = r.byte();
    if (kind === 0) r.u32();
    else if (kind === 1) {
      r.byte();
      limits(r);
    } else if (kind === 2) limits(r);
    else if (kind === 3) {
      r.byte();
      r.byte();
      globals++;
    } else if (kind === 4) {
      r.byte();
      r.u32();
    } else throw new UnmeterableWasmError(`an import of unknown kind ${kind}`);
  }
  return globals;
}

function limits(r: Reader): void {
  const flags = r.byte();
  r.leb();
  if (flags & 1) r.leb();
}

/**
 * The global section with one more entry: a mutable i32 that starts full (2^31 - 1), so that loading
 * the module runs; each evaluation sets its own fuel.
 */
function withFuelGlobal(body: Uint8Array | undefined): Uint8Array {
  const entry = Uint8Array.of(0x7f, 0x01, 0x41, 0xff, 0xff, 0xff, 0xff, 0x07, 0x0b);
  if (body === undefined) return concat([leb(1), entry]);
  const r = new Reader(body, 0);
  const n = r.u32();
  return concat([leb(n + 1), body.subarray(r.pos), entry]);
}

function withFuelExport(body: Uint8Array | undefined, fuelIndex: Uint8Array): Uint8Array {
  const name = new TextEncoder().encode(FUEL_EXPORT);
  const entry = concat([leb(name.length), name, Uint8Array.of(0x03), fuelIndex]);
  if (body === undefined) return concat([leb(1), entry]);
  const r = new Reader(body, 0);
  const n = r.u32();
  return concat([leb(n + 1), body.subarray(r.pos), entry]);
}

/**
 * The fuel check: take `cost` units, trap when the gauge goes below zero. Stack-neutral, so it may
 * stand at the start of a function or of a loop, whatever the block's parameters.
 */
function fuelCheck(g: Uint8Array, cost: number): Uint8Array {
  return concat([
    Uint8Array.of(0x23),
    g, // global.get fuel
    Uint8Array.of(0x41),
    sleb(cost), // i32.const cost
    Uint8Array.of(0x6b, 0x24),
    g, // i32.sub; global.set fuel
    Uint8Array.of(0x23),
    g, // global.get fuel
    Uint8Array.of(0x41, 0x00, 0x48, 0x04, 0x40, 0x00, 0x0b), // i32.const 0; i32.lt_s; if; unreachable; end
  ]);
}

/**
 * One metering point and what it pays for. Code outside every loop runs at most once per entry of its
 * function, and code directly inside a loop at most once per iteration, so a function entry pays for
 * the instructions outside its loops and a loop's start for those directly inside it: fuel is an upper
 * bound on the instructions run (a callee pays at its own entry).
 */
interface Meter {
  cost: number;
}

function meteredCode(body: Uint8Array, fuelIndex: Uint8Array): Uint8Array {
  const r = new Reader(body, 0);
  const count = r.u32();
  const parts: Uint8Array[] = [leb(count)];
  for (let f = 0; f < count; f++) {
    const size = r.u32();
    const end = r.pos + size;
    const fn = new Reader(body.subarray(0, end), r.pos);
    for (let groups = fn.u32(); groups > 0; groups--) {
      fn.u32();
      valtype(fn);
    }
    const entry: Meter = { cost: 0 };
    const pieces: (Uint8Array | Meter)[] = [body.subarray(r.pos, fn.pos), entry];
    // The enclosing structured instructions: a loop's Meter, or null for block/if/try.
    const open: (Meter | null)[] = [];
    const meters: Meter[] = [entry];
    let from = fn.pos;
    while (fn.pos < end) {
      const op = fn.byte();
      meters[meters.length - 1].cost++;
      if (op === 0x03) {
        blocktype(fn);
        const loop: Meter = { cost: 0 };
        pieces.push(body.subarray(from, fn.pos), loop);
        from = fn.pos;
        open.push(loop);
        meters.push(loop);
      } else if (op === 0x02 || op === 0x04 || op === 0x06) {
        blocktype(fn);
        open.push(null);
      } else if (op === 0x0b || op === 0x18) {
        // `delegate` closes a `try` as `end` does; the function's own `end` closes nothing opened.
        if (op === 0x18) fn.leb();
        if (open.length > 0 && open.pop() !== null) meters.pop();
      } else immediates(op, fn);
    }
    if (fn.pos !== end) throw new UnmeterableWasmError(`function ${f} ends inside an instruction`);
    pieces.push(body.subarray(from, end));
    const fnBody = concat(pieces.map((p) => (p instanceof Uint8Array ? p : fuelCheck(fuelIndex, p.cost))));
    parts.push(leb(fnBody.length), fnBody);
    r.pos = end;
  }
  return concat(parts);
}

function valtype(r: Reader): void {
  const t = r.byte();
  if (!VALTYPES.has(t)) throw new UnmeterableWasmError(`value type 0x${t.toString(16)} is not supported`);
}

function blocktype(r: Reader): void {
  const b = r.peek();
  if (b === 0x40 || VALTYPES.has(b)) r.pos++;
  else r.leb(); // a type index (s33)
}

/** Steps over the immediates of instruction `op` (whose byte has been read). */
function immediates(op: number, r: Reader): void {
  switch (op) {
    case 0x07: // catch tag
    case 0x08: // throw tag
    case 0x09: // rethrow label
    case 0x0c: // br
    case 0x0d: // br_if
    case 0x10: // call
    case 0x12: // return_call
    case 0x3f: // memory.size
    case 0x40: // memory.grow
    case 0x41: // i32.const
    case 0x42: // i64.const
    case 0xd2: // ref.func
      r.leb();
      break;
    case 0x0e: // br_table: the targets, then the default
      for (let n = r.u32(); n >= 0; n--) r.leb();
      break;
    case 0x11: // call_indirect
    case 0x13: // return_call_indirect
      r.leb();
      r.leb();
      break;
    case 0x1c: // select with types
      for (let n = r.u32(); n > 0; n--) valtype(r);
      break;
    case 0x43:
      r.skip(4);
      break;
    case 0x44:
      r.skip(8);
      break;
    case 0xd0: // ref.null
      r.skip(1);
      break;
    case 0xfc:
      miscImmediates(r.u32());
      break;
    default:
      if (op >= 0x20 && op <= 0x26)
        r.leb(); // locals, globals, tables
      else if (op >= 0x28 && op <= 0x3e) memarg(r);
      else if (!(op <= 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || (op >= 0x19 && op <= 0x1b))) {
        if (!((op >= 0x45 && op <= 0xc4) || op === 0xd1)) {
          throw new UnmeterableWasmError(`instruction 0x${op.toString(16)} is not supported`);
        }
      }
  }
}

function memarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.leb(); // a memory index (multi-memory)
  r.leb();
}

/**
 * The 0xfc group: saturating truncations only. Bulk memory and table instructions do work in
 * proportion to an operand, which one unit per instruction would not bound.
 */
function miscImmediates(sub: number): void {
  if (sub > 7)
    throw new UnmeterableWasmError(`instruction 0xfc ${sub} (bulk memory or tables) is not supported`);
}

class Reader {
  readonly buf: Uint8Array;
  pos: number;
  constructor(buf: Uint8Array, pos: number) {
    this.buf = buf;
    this.pos = pos;
  }
  byte(): number {
    if (this.pos >= this.buf.length) throw new UnmeterableWasmError('the module ends early');
    return this.buf[this.pos++];
  }
  peek(): number {
    if (this.pos >= this.buf.length) throw new UnmeterableWasmError('the module ends early');
    return this.buf[this.pos];
  }
  skip(n: number): void {
    this.pos += n;
    if (this.pos > this.buf.length) throw new UnmeterableWasmError('the module ends early');
  }
  /** Steps over one LEB128 number of any width. */
  leb(): void {
    while (this.byte() & 0x80) {}
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
      if (shift > 28) throw new UnmeterableWasmError('a number is too long');
    }
  }
}

/** Signed LEB128 of a non-negative number below 2^31. */
function sleb(n: number): Uint8Array {
  const bytes: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>>= 7;
    if (n === 0 && (b & 0x40) === 0) {
      bytes.push(b);
      return Uint8Array.from(bytes);
    }
    bytes.push(b | 0x80);
  }
}

function leb(n: number): Uint8Array {
  const bytes: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    bytes.push(b);
  } while (n !== 0);
  return Uint8Array.from(bytes);
}

function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
