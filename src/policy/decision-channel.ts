// The shared-memory channel between the gateway's thread and a decision worker: a few Int32 slots
// for the hand-off and two Float64 slots for the worker's CPU clock, then the bytes of one input (to
// the worker) or one result (back). Growable, so a large input needs no message round trip to resize.

/** Slot indexes in the Int32 header. */
export const REQUEST = 0; // sequence number of the latest request (written by the caller)
export const RESPONSE = 1; // sequence number of the latest answer (written by the worker)
export const LENGTH = 2; // byte length of the input, then of the answer
export const STATUS = 3; // 0: the bytes are the result JSON; 1: they are an error message
export const ANNOUNCE = 4; // 1: also post a message when the answer is ready (a caller that must not block)
export const STARTED = 5; // sequence number of the request the worker is evaluating or evaluated last
export const COUNT = 6; // 0: the payload is one input; n > 0: n inputs, each a u32 length then its bytes
export const ITEM = 7; // index of the input of a batch the worker is evaluating
/** Slot indexes in the Float64 header (after the Int32 slots). */
export const CPU_AT_START = 0; // the worker thread's CPU time (µs) when it started the current input
export const CPU_SPENT = 1; // CPU time (µs) the last answered request took
const INT_SLOTS = 8;
const FLOAT_SLOTS = 2;
export const HEADER_BYTES = INT_SLOTS * 4 + FLOAT_SLOTS * 8;

export const STATUS_OK = 0;
export const STATUS_ERROR = 1;

export const INITIAL_BYTES = 1 << 20;
/** Inputs and results above this are refused (the policy cannot need 64 MiB of facts). */
export const MAX_BYTES = 64 << 20;

export interface Channel {
  sab: SharedArrayBuffer;
  ctl: Int32Array;
  cpu: Float64Array;
  /** Length-tracking views of the payload area. */
  bytes: Uint8Array;
  view: DataView;
}

export function createChannel(): Channel {
  const sab = new SharedArrayBuffer(HEADER_BYTES + INITIAL_BYTES, {
    maxByteLength: HEADER_BYTES + MAX_BYTES,
  });
  return viewsOf(sab);
}

export function viewsOf(sab: SharedArrayBuffer): Channel {
  return {
    sab,
    ctl: new Int32Array(sab, 0, INT_SLOTS),
    cpu: new Float64Array(sab, INT_SLOTS * 4, FLOAT_SLOTS),
    bytes: new Uint8Array(sab, HEADER_BYTES),
    view: new DataView(sab, HEADER_BYTES),
  };
}

/** Grows the payload area to hold `needed` bytes; false when that exceeds MAX_BYTES. */
export function ensureRoom(channel: Channel, needed: number): boolean {
  if (channel.bytes.byteLength >= needed) return true;
  if (needed > MAX_BYTES) return false;
  channel.sab.grow(
    Math.min(HEADER_BYTES + MAX_BYTES, HEADER_BYTES + Math.max(needed, channel.bytes.byteLength * 2)),
  );
  return true;
}

/** The thread's CPU time in µs, as the kernel counts it for this thread alone. */
export function threadCpuMicros(): number {
  const { user, system } = process.threadCpuUsage();
  return user + system;
}
