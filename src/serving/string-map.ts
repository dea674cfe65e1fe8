// A string-keyed map for tables that gain and lose an entry on every call (reservations in flight,
// provisional audit records waiting for their final one).
//
// Why not a Map: when a Map grows or shrinks, V8 allocates a new hash table and links the replaced
// one to it, and once a long-lived Map's table is in the old generation its new tables are allocated
// there too. A replaced table is garbage, but until the next full GC it still points at the values it
// held, and young-generation GCs take pointers from the old generation as roots: every entry that
// went through such a Map outlived two young GCs and was promoted. Under sustained load that turned
// the old generation into a stream of dead reservations (docs/workers.md, "Under sustained load").
// An object in dictionary mode keeps its entries in one table with no such links.

/** For lookups: iterating a dictionary-mode object costs a sort of all its keys (`forEachEntry`). */
export class StringMap<V> {
  #entries: Record<string, V> = Object.create(null);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(key: string): V | undefined {
    return this.#entries[key];
  }

  has(key: string): boolean {
    return key in this.#entries;
  }

  set(key: string, value: V): this {
    if (!(key in this.#entries)) this.#size++;
    this.#entries[key] = value;
    return this;
  }

  /**
   * Every entry, oldest first; sorts the keys, so for occasional sweeps of small tables only. `visit`
   * may delete the entry it is given.
   */
  forEachEntry(visit: (key: string, value: V) => void): void {
    for (const key in this.#entries) visit(key, this.#entries[key] as V);
  }

  delete(key: string): boolean {
    if (!(key in this.#entries)) return false;
    delete this.#entries[key];
    this.#size--;
    return true;
  }
}
