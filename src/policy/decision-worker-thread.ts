// Runs inside a decision worker: loads one revision's Wasm policy and its data, then answers
// evaluations handed over through shared memory (decision-channel.ts). The input bytes are copied
// straight into Wasm memory and the result bytes straight back, so this thread never parses JSON on
// the fast path. A runaway evaluation is ended from outside by terminating this thread.
import { readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { type LoadedPolicy, loadPolicy } from '@open-policy-agent/opa-wasm';
import {
  ANNOUNCE,
  COUNT,
  CPU_AT_START,
  CPU_SPENT,
  ensureRoom,
  ITEM,
  LENGTH,
  REQUEST,
  RESPONSE,
  STARTED,
  STATUS,
  STATUS_ERROR,
  STATUS_OK,
  threadCpuMicros,
  viewsOf,
} from './decision-channel.ts';
import { evaluateInput, hasOpaEval, inputBytes, opaExports } from './opa-abi.ts';
import { hostBuiltins, WASM_MAX_PAGES } from './wasm-builtins.ts';

export interface DecisionWorkerData {
  wasm: Uint8Array;
  /** The data document as UTF-8 JSON, handed to OPA as it is (`setData` takes an ArrayBuffer as JSON). */
  data: ArrayBuffer;
  sab: SharedArrayBuffer;
}

const { wasm, sab } = workerData as DecisionWorkerData;
const channel = viewsOf(sab);
const { ctl, cpu } = channel;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const policy: LoadedPolicy = await loadPolicy(wasm, { initial: 16, maximum: WASM_MAX_PAGES }, hostBuiltins);
policy.setData((workerData as DecisionWorkerData).data);
// OPA holds its own copy; without this reference the JSON bytes can be collected.
(workerData as Partial<DecisionWorkerData>).data = undefined;
const evaluate = hasOpaEval(policy) ? rawEvaluator(policy) : sdkEvaluator(policy);
parentPort!.postMessage({ type: 'ready', thread: ownThread() });

/** `<pid>/task/<tid>` under /proc, where the caller reads this thread's CPU clock; undefined off Linux. */
function ownThread(): string | undefined {
  try {
    return readlinkSync('/proc/thread-self');
  } catch {
    return undefined;
  }
}

/** ABI ≥ 1.2: the input's bytes copied from the channel into Wasm memory; returns the result's bytes. */
function rawEvaluator(p: LoadedPolicy): (offset: number, len: number) => Uint8Array {
  const exports = opaExports(p);
  return (offset, len) => {
    inputBytes(p, len).set(channel.bytes.subarray(offset, offset + len));
    return evaluateInput(p, exports, len);
  };
}

/** Older ABIs: the SDK's own evaluate, through JSON. */
function sdkEvaluator(p: LoadedPolicy): (offset: number, len: number) => Uint8Array {
  return (offset, len) => {
    const input = JSON.parse(decoder.decode(channel.bytes.slice(offset, offset + len)));
    return encoder.encode(JSON.stringify(p.evaluate(input)));
  };
}

function answer(seq: number, status: number, bytes: Uint8Array): void {
  if (!ensureRoom(channel, bytes.length)) {
    status = STATUS_ERROR;
    bytes = encoder.encode(`the decision result is larger than ${channel.bytes.byteLength} bytes`);
  }
  channel.bytes.set(bytes);
  Atomics.store(ctl, LENGTH, bytes.length);
  Atomics.store(ctl, STATUS, status);
  cpu[CPU_SPENT] = threadCpuMicros() - cpu[CPU_AT_START];
  Atomics.store(ctl, RESPONSE, seq);
  Atomics.notify(ctl, RESPONSE);
  if (Atomics.load(ctl, ANNOUNCE) === 1) parentPort!.postMessage(seq);
}

/** One input: evaluated, its CPU time counted from the start, an error answered as such. */
function one(seq: number): void {
  cpu[CPU_AT_START] = threadCpuMicros();
  Atomics.store(ctl, ITEM, 0);
  Atomics.store(ctl, STARTED, seq);
  try {
    answer(seq, STATUS_OK, evaluate(0, Atomics.load(ctl, LENGTH)));
  } catch (err) {
    answer(seq, STATUS_ERROR, encoder.encode(errorText(err)));
  }
}

/** A batch: every input in turn, then all answers at once, each a status byte, a u32 length and its bytes. */
function batch(seq: number, count: number): void {
  const { view } = channel;
  const answers: { status: number; bytes: Uint8Array }[] = [];
  Atomics.store(ctl, STARTED, seq);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(offset, true);
    offset += 4;
    cpu[CPU_AT_START] = threadCpuMicros();
    Atomics.store(ctl, ITEM, i);
    try {
      answers.push({ status: STATUS_OK, bytes: evaluate(offset, len).slice() });
    } catch (err) {
      answers.push({ status: STATUS_ERROR, bytes: encoder.encode(errorText(err)) });
    }
    offset += len;
  }
  let total = 0;
  for (const a of answers) total += 5 + a.bytes.length;
  if (!ensureRoom(channel, total)) {
    answer(
      seq,
      STATUS_ERROR,
      encoder.encode(`the decision results are larger than ${channel.bytes.byteLength} bytes`),
    );
    return;
  }
  offset = 0;
  for (const a of answers) {
    view.setUint8(offset, a.status);
    view.setUint32(offset + 1, a.bytes.length, true);
    channel.bytes.set(a.bytes, offset + 5);
    offset += 5 + a.bytes.length;
  }
  Atomics.store(ctl, LENGTH, total);
  Atomics.store(ctl, STATUS, STATUS_OK);
  Atomics.store(ctl, RESPONSE, seq);
  Atomics.notify(ctl, RESPONSE);
  if (Atomics.load(ctl, ANNOUNCE) === 1) parentPort!.postMessage(seq);
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

// Not read from the channel: a request may already be there when this line runs.
let seen = 0;
for (;;) {
  Atomics.wait(ctl, REQUEST, seen);
  const seq = Atomics.load(ctl, REQUEST);
  if (seq === seen) continue;
  seen = seq;
  const count = Atomics.load(ctl, COUNT);
  if (count === 0) one(seq);
  else batch(seq, count);
}
