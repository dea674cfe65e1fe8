// The gateway's HTTP response class: it runs the call's `ending` stage once, just before the
// response's last bytes are written, wherever `end` is called from (the forwarder, a refusal sent by
// Fastify, an error path). The servers are created with it (`ServerResponse` option of createServer).
//
// Why a class and not a per-call `res.end = wrapper`: a function-valued own property on each response
// kept every call's objects alive through young-generation collections (15 % of the young generation
// survived each scavenge instead of 2 %; measured with --trace-gc-nvp under `bench/gateway.ts`), which
// cost ~40 µs of garbage-collection CPU per call. Plain data fields on a class do not.
//
// When the stage left an audit journal line held for this turn's group write (src/audit/group-commit.ts),
// the end itself waits for that write, so no client has its answer before the journal has its record.
import { ServerResponse } from 'node:http';
import { afterJournalWrite, type JournalWaiter } from '../audit/group-commit.ts';
import type { Call } from './call.ts';

/** What runs the `ending` stage of a call. */
export interface EndingStage {
  ending(call: Call): void;
}

export class EndingResponse extends ServerResponse implements JournalWaiter {
  #call: Call | undefined = undefined;
  #stage: EndingStage | undefined = undefined;
  /** The `end` calls waiting for the journal's group write, in order; undefined when none wait. */
  #held: unknown[][] | undefined = undefined;

  static {
    // A held end counts as ended, as it will be within this turn: Fastify's `reply.sent` and code
    // that checks before writing an error see the response as finished.
    Object.defineProperty(EndingResponse.prototype, 'writableEnded', {
      get(this: EndingResponse) {
        return this.#held !== undefined || this.finished;
      },
    });
  }

  /** `stage.ending(call)` runs once, just before this response ends. */
  armEnding(call: Call, stage: EndingStage): void {
    this.#call = call;
    this.#stage = stage;
  }

  // biome-ignore lint/suspicious/noExplicitAny: ServerResponse.end's overloads, passed through unchanged
  override end(...args: any[]): this {
    if (this.#held !== undefined) {
      this.#held.push(args);
      return this;
    }
    const stage = this.#stage;
    if (stage !== undefined) {
      this.#stage = undefined;
      stage.ending(this.#call as Call);
      this.#call = undefined;
      if (afterJournalWrite(this)) {
        this.#held = [args];
        return this;
      }
    }
    return super.end(...(args as [])) as this;
  }

  /** The journal's group write is done: the held ends go out, in order. */
  journalWritten(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const args of held) {
      try {
        super.end(...(args as []));
      } catch (err) {
        this.destroy(err as Error);
      }
    }
  }
}
