// The active policy snapshot. The GitOps reload swaps it with one reference assignment; a request
// reads it once when it starts and keeps that snapshot until it ends.
import type { Snapshot } from '../policy/snapshot.ts';

export type SwapListener = (next: Snapshot, previous: Snapshot | undefined) => void;

export class SnapshotHolder {
  #current: Snapshot | undefined;
  #listeners: SwapListener[] = [];

  constructor(initial?: Snapshot) {
    this.#current = initial;
  }

  current(): Snapshot | undefined {
    return this.#current;
  }

  /** Make `next` active for requests that start from now on; returns the previous snapshot. */
  swap(next: Snapshot): Snapshot | undefined {
    const previous = this.#current;
    this.#current = next;
    for (const l of this.#listeners) l(next, previous);
    return previous;
  }

  onSwap(listener: SwapListener): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }
}
