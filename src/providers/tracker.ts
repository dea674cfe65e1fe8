// Shared machinery of the SSE usage trackers: parse events as chunks pass, let the provider-specific
// subclass read usage from each event, and rebuild the byte stream only when an event must be hidden.
import { eventJson, type SseEvent, SseParser } from './sse.ts';
import { emptyUsage, type StreamTracker, type TokenUsage } from './types.ts';

export abstract class SseUsageTracker implements StreamTracker {
  protected reported: TokenUsage = emptyUsage();
  /** Upstream reported an output count (so no estimate is needed). */
  protected outputReported = false;
  /** Characters of generated text seen, for an estimate when the stream ends early. */
  protected textChars = 0;
  readonly #parser = new SseParser();
  readonly #events: SseEvent[] = [];
  readonly #rewrite: boolean;
  /** Events kept for `take` (only once `share` was called). */
  #shared: SseEvent[] | null = null;

  constructor(rewrite: boolean) {
    this.#rewrite = rewrite;
  }

  /** Read one event; return false to hide it from the client (only honoured when rewriting). */
  protected abstract onEvent(ev: SseEvent): boolean;

  push(chunk: Buffer): Buffer | null {
    this.#parser.push(chunk, this.#events);
    return this.#flush(chunk);
  }

  end(): Buffer | null {
    this.#parser.end(this.#events);
    return this.#flush(null);
  }

  /**
   * From now on, keep the events this tracker parses (those it lets through) for `take`, so a reader
   * of the same stream (the stream guard) need not parse the bytes and their JSON again.
   */
  share(): void {
    this.#shared ??= [];
  }

  /** The events parsed since the last call, in order (empty unless `share` was called). */
  take(): SseEvent[] {
    const shared = this.#shared;
    if (shared === null || shared.length === 0) return [];
    this.#shared = [];
    return shared;
  }

  #flush(chunk: Buffer | null): Buffer | null {
    const events = this.#events;
    const shared = this.#shared;
    if (!this.#rewrite) {
      for (let i = 0; i < events.length; i++) {
        this.onEvent(events[i]);
        if (shared !== null) shared.push(events[i]);
      }
      events.length = 0;
      return chunk;
    }
    let out = '';
    for (let i = 0; i < events.length; i++) {
      if (!this.onEvent(events[i])) continue;
      out += events[i].raw;
      if (shared !== null) shared.push(events[i]);
    }
    events.length = 0;
    return out === '' ? null : Buffer.from(out);
  }

  usage(): TokenUsage {
    const u = { ...this.reported };
    if (!this.outputReported) u.outputTokens = Math.max(u.outputTokens, Math.ceil(this.textChars / 4));
    return u;
  }

  estimated(): boolean {
    return !this.outputReported;
  }
}

export { eventJson };
