// A worker's link to its primary: requests answered by the primary (counter store, metrics, a
// fetch of the policy source), notes it sends (audit records, reload progress) and what the primary
// pushes (revisions to prepare and activate, the sync status, drain).
import { add, Channel } from './channel.ts';
import {
  type Envelope,
  type ErrorShape,
  isEnvelope,
  type PrimaryPush,
  type WorkerNote,
  type WorkerRequest,
} from './messages.ts';

export class RemoteError extends Error {
  readonly shape: ErrorShape;
  constructor(shape: ErrorShape) {
    super(shape.message);
    this.name = shape.name;
    this.shape = shape;
  }
}

export class PrimaryLink {
  readonly #channel: Channel;
  #nextId = 1;
  readonly #waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #onPush: (push: PrimaryPush) => void = () => {};
  #onMetricsRequest: (id: number) => void = () => {};
  #onAuditAck: (count: number) => void = () => {};
  #gone = false;

  constructor(proc: NodeJS.Process = process) {
    if (typeof proc.send !== 'function')
      throw new Error('not a cluster worker: no IPC channel to the primary');
    const send = proc.send.bind(proc) as (m: Envelope, cb: (err: Error | null) => void) => boolean;
    this.#channel = new Channel((m, cb) => send(m, cb));
    proc.on('message', (m: unknown) => {
      if (isEnvelope(m)) this.#receive(m);
    });
    proc.on('disconnect', () => {
      this.#gone = true;
      this.#channel.close();
      for (const w of this.#waiting.values()) w.reject(new Error('the primary process is gone'));
      this.#waiting.clear();
    });
  }

  get connected(): boolean {
    return !this.#gone;
  }

  onPush(handler: (push: PrimaryPush) => void): void {
    this.#onPush = handler;
  }

  onMetricsRequest(handler: (id: number) => void): void {
    this.#onMetricsRequest = handler;
  }

  onAuditAck(handler: (count: number) => void): void {
    this.#onAuditAck = handler;
  }

  request<T>(req: WorkerRequest): Promise<T> {
    if (this.#gone) return Promise.reject(new Error('the primary process is gone'));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#channel.queue((out) => add(out, 'requests', { id, req }));
    });
  }

  note(note: WorkerNote): void {
    this.#channel.queue((out) => add(out, 'notes', note));
  }

  sendMetrics(id: number, json: unknown[]): void {
    this.#channel.queue((out) => {
      out.metrics = { id, json };
    });
  }

  /** Sends everything queued (audit records at shutdown) and resolves once it is on its way. */
  flush(): Promise<void> {
    return this.#channel.flush();
  }

  #receive(m: Envelope): void {
    if (m.auditAck !== undefined) this.#onAuditAck(m.auditAck);
    for (const r of m.replies ?? []) {
      const w = this.#waiting.get(r.id);
      if (w === undefined) continue;
      this.#waiting.delete(r.id);
      if (r.ok) w.resolve(r.value);
      else w.reject(new RemoteError(r.error));
    }
    for (const p of m.pushes ?? []) {
      if (p.push === 'metrics-request') this.#onMetricsRequest(p.id);
      else this.#onPush(p);
    }
  }
}
