// One side of the IPC channel between the primary and a worker. Everything queued during an
// event-loop turn leaves as one message: under load a call's reserve, settle and audit record share
// a message with other calls' instead of paying a serialization and a pipe write each.
import { type Envelope, isEnvelope } from './messages.ts';

type Send = (message: Envelope, callback: (err: Error | null) => void) => boolean;

export class Channel {
  readonly #send: Send;
  #out: Envelope = { portcullis: 1 };
  #pending = false;
  #scheduled: NodeJS.Immediate | undefined;
  #closed = false;

  constructor(send: Send) {
    this.#send = send;
  }

  /** Adds to the message leaving at the end of this turn. */
  queue(fill: (out: Envelope) => void): void {
    if (this.#closed) return;
    fill(this.#out);
    this.#pending = true;
    this.#scheduled ??= setImmediate(this.#flushScheduled);
  }

  readonly #flushScheduled = (): void => {
    this.#scheduled = undefined;
    void this.flush().catch(() => undefined);
  };

  /** Sends what is queued now; resolves once it is handed to the channel. */
  flush(): Promise<void> {
    if (this.#scheduled !== undefined) {
      clearImmediate(this.#scheduled);
      this.#scheduled = undefined;
    }
    if (!this.#pending || this.#closed) return Promise.resolve();
    const message = this.#out;
    this.#out = { portcullis: 1 };
    this.#pending = false;
    return new Promise((resolve, reject) => {
      try {
        this.#send(message, (err) => (err ? reject(err) : resolve()));
      } catch (err) {
        reject(err);
      }
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
  }
}

export { isEnvelope };

/** Pushes onto an optional array field of the envelope. */
export function add<K extends keyof Envelope>(
  out: Envelope,
  field: K,
  item: NonNullable<Envelope[K]> extends (infer T)[] ? T : never,
): void {
  const list = (out[field] ?? []) as unknown[];
  list.push(item);
  (out as unknown as Record<string, unknown>)[field] = list;
}
