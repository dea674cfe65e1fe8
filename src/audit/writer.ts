// The main thread's handle on the audit writer thread (write-worker.ts), which owns a second SQLite
// connection and does the chain hashing, inserts, commit (fsync) and checkpoint write, so that none
// of it runs on the gateway's event loop. One batch is at the writer at a time; AuditLog decides
// what goes and when.
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';

/** Main → writer. `jsons` are canonical record texts, in order. */
export type WriterRequest =
  | {
      type: 'batch';
      jsons: string[];
      /** Also return every entry's hash (only when sinks need the entries). */
      hashes: boolean;
      /** Test hook: commit, then exit without answering (a crash between commit and reply). */
      exitAfterCommit?: boolean;
    }
  | { type: 'close' };

/** Writer → main: the answer to one batch. */
export type WriterReply =
  | {
      type: 'committed';
      firstSeq: number;
      /** The hash the first record chains to. */
      prevHash: string;
      lastHash: string;
      hashes?: string[];
      /** The batch is committed, but the checkpoint file could not be written. */
      checkpointError?: string;
    }
  | { type: 'failed'; error: string };

export interface WriterData {
  dbPath: string;
  checkpointFile: string;
  port: MessagePort;
  /** Int32 [replies posted, 1 once the writer failed to start]; lets the main thread block on a reply. */
  signal: SharedArrayBuffer;
}

export const SIGNAL_REPLIES = 0;
export const SIGNAL_DEAD = 1;

export interface WriterThreadOptions {
  dbPath: string;
  checkpointFile: string;
  onReply(reply: WriterReply): void;
  /** The thread ended without being asked to (crash, terminate). Not called after `stop`. */
  onExit(thread: WriterThread, err: Error): void;
}

export class WriterThread {
  readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal: Int32Array;
  private received = 0;
  private stopping = false;
  private exited = false;
  private readonly exit: Promise<void>;

  constructor(opts: WriterThreadOptions) {
    const { port1, port2 } = new MessageChannel();
    const shared = new SharedArrayBuffer(8);
    this.signal = new Int32Array(shared);
    this.port = port1;
    const data: WriterData = {
      dbPath: opts.dbPath,
      checkpointFile: opts.checkpointFile,
      port: port2,
      signal: shared,
    };
    this.worker = new Worker(
      new URL(`./write-worker.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url),
      {
        workerData: data,
        transferList: [port2],
        // The gateway's flags (--cpu-prof, --inspect, test runner flags) are not the writer's business.
        execArgv: [],
      },
    );
    this.port.on('message', (reply: WriterReply) => {
      this.received += 1;
      this.port.unref();
      opts.onReply(reply);
    });
    // An idle writer does not keep the process alive; a batch in flight does (see send). After
    // `on('message')`, which refs the port.
    this.worker.unref();
    this.port.unref();
    let failure: Error | undefined;
    this.worker.on('error', (err) => {
      failure = err instanceof Error ? err : new Error(String(err));
    });
    this.exit = new Promise((resolve) => {
      this.worker.on('exit', (code) => {
        this.exited = true;
        resolve();
        if (this.stopping) {
          this.port.close();
          return;
        }
        opts.onExit(this, failure ?? new Error(`audit writer thread exited with code ${code}`));
        this.port.close();
      });
    });
  }

  /** Sends a batch; its reply arrives through `onReply` (or `receiveSync`). */
  send(jsons: string[], hashes: boolean, exitAfterCommit = false): void {
    this.port.ref();
    const msg: WriterRequest = { type: 'batch', jsons, hashes };
    if (exitAfterCommit) msg.exitAfterCommit = true;
    this.port.postMessage(msg);
  }

  /**
   * Blocks the calling thread until the reply to the batch in flight is there, for at most
   * `timeoutMs`; undefined when none came (the writer is stuck or gone). The reply is not passed to
   * `onReply`.
   */
  receiveSync(timeoutMs: number): WriterReply | undefined {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (Atomics.load(this.signal, SIGNAL_REPLIES) !== this.received) {
        const got = receiveMessageOnPort(this.port);
        if (got) {
          this.received += 1;
          this.port.unref();
          return got.message as WriterReply;
        }
      }
      const left = deadline - performance.now();
      if (left <= 0 || this.exited || Atomics.load(this.signal, SIGNAL_DEAD) === 1) return undefined;
      Atomics.wait(this.signal, SIGNAL_REPLIES, this.received, left);
    }
  }

  /** A reply already posted but not yet delivered, if any (after the thread died). */
  takePending(): WriterReply | undefined {
    const got = receiveMessageOnPort(this.port);
    if (!got) return undefined;
    this.received += 1;
    return got.message as WriterReply;
  }

  /** Asks the writer to close its connection and end; terminates it if it has not within `timeoutMs`. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopping = true;
    if (this.exited) return;
    this.port.ref();
    this.port.postMessage({ type: 'close' } satisfies WriterRequest);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    });
    const tooLate = await Promise.race([this.exit.then(() => false), late]);
    clearTimeout(timer);
    if (tooLate) await this.worker.terminate();
    await this.exit;
  }
}
