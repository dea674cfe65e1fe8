// The embedded (SQLite) counter store as a worker sees it: the primary holds the one store, so that
// counters stay exact across workers, and each reserve, settle and release is a request to it
// (batched per event-loop turn with the worker's other messages).
import {
  type ActualUsage,
  type CounterStore,
  type CounterUsage,
  type PeekRequest,
  type ReserveRequest,
  type ReserveResult,
  type StoreOperation,
  StoreUnavailableError,
} from '../limits/store.ts';
import { type PrimaryLink, RemoteError } from './primary-link.ts';

export class IpcCounterStore implements CounterStore {
  readonly kind = 'sqlite';
  readonly #link: PrimaryLink;

  constructor(link: PrimaryLink) {
    this.#link = link;
  }

  reserve(req: ReserveRequest): Promise<ReserveResult> {
    return this.#link
      .request<ReserveResult>({
        op: 'reserve',
        requestId: req.requestId,
        counters: req.counters,
        now: req.now.getTime(),
        leaseMs: req.leaseMs,
      })
      .catch((err: unknown) => {
        throw unavailable('reserve', err);
      });
  }

  async settle(reservationId: string, actual: ActualUsage): Promise<void> {
    await this.#link.request({ op: 'settle', reservationId, actual }).catch((err: unknown) => {
      throw unavailable('settle', err);
    });
  }

  async release(reservationId: string): Promise<void> {
    await this.#link.request({ op: 'release', reservationId }).catch((err: unknown) => {
      throw unavailable('release', err);
    });
  }

  peek(req: PeekRequest): Promise<CounterUsage[]> {
    return this.#link
      .request<CounterUsage[]>({ op: 'peek', counters: req.counters, now: req.now.getTime() })
      .catch((err: unknown) => {
        throw unavailable('peek', err);
      });
  }

  claim(id: string, expiresAt: number): Promise<boolean> {
    return this.#link.request<boolean>({ op: 'claim', id, expiresAt }).catch((err: unknown) => {
      throw unavailable('claim', err);
    });
  }

  async close(): Promise<void> {}
}

function unavailable(operation: StoreOperation, err: unknown): Error {
  if (err instanceof RemoteError && err.shape.name === 'StoreUnavailableError') {
    const e = new StoreUnavailableError('sqlite', operation, new Error(err.message), err.shape.willRetry);
    e.message = err.message;
    return e;
  }
  if (err instanceof RemoteError && err.shape.name === 'TypeError') return new TypeError(err.message);
  return new StoreUnavailableError('sqlite', operation, err);
}
