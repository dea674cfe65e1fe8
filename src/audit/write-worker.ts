// The audit writer thread: commits the batches the main thread sends, one at a time, on its own
// SQLite connection, writes the checkpoint after each, and answers each batch exactly once. After
// posting an answer it bumps a shared counter, so a main thread that must wait for it (a full
// queue) can block on the counter instead of the event loop.
import { workerData } from 'node:worker_threads';
import { writeCheckpoint } from './checkpoint.ts';
import { AuditStore } from './store.ts';
import {
  SIGNAL_DEAD,
  SIGNAL_REPLIES,
  type WriterData,
  type WriterReply,
  type WriterRequest,
} from './writer.ts';

const { dbPath, checkpointFile, port, signal: shared } = workerData as WriterData;
const signal = new Int32Array(shared);

let store: AuditStore;
try {
  store = new AuditStore(dbPath);
} catch (err) {
  Atomics.store(signal, SIGNAL_DEAD, 1);
  Atomics.notify(signal, SIGNAL_REPLIES);
  throw err;
}

function reply(r: WriterReply): void {
  port.postMessage(r);
  Atomics.add(signal, SIGNAL_REPLIES, 1);
  Atomics.notify(signal, SIGNAL_REPLIES);
}

function commit(jsons: string[], wantHashes: boolean, exitAfterCommit: boolean): void {
  let entries: ReturnType<AuditStore['appendJson']>;
  try {
    entries = store.appendJson(jsons);
  } catch (err) {
    reply({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
    return;
  }
  if (exitAfterCommit) process.exit(1);
  const first = entries[0];
  const last = entries[entries.length - 1];
  const answer: WriterReply = {
    type: 'committed',
    firstSeq: first.seq,
    prevHash: first.prevHash,
    lastHash: last.hash,
  };
  if (wantHashes) answer.hashes = entries.map((e) => e.hash);
  try {
    writeCheckpoint(checkpointFile, last.seq, last.hash);
  } catch (err) {
    answer.checkpointError = err instanceof Error ? err.message : String(err);
  }
  reply(answer);
}

port.on('message', (msg: WriterRequest) => {
  if (msg.type === 'batch') {
    commit(msg.jsons, msg.hashes, msg.exitAfterCommit === true);
  } else {
    store.close();
    port.close();
  }
});
