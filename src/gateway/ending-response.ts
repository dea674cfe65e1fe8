// The gateway's HTTP response class: it runs the call's `ending` stage once, just before the
// response's last bytes are written, wherever `end` is called from (the forwarder, a refusal sent by
// Fastify, an error path). The servers are created with it (`ServerResponse` option of createServer).
//
// Why a class and not a per-call `res.end = wrapper`: a function-valued own property on each response
// kept every call's objects alive through young-generation collections (15 % of the young generation
// survived each scavenge instead of 2 %; measured with --trace-gc-nvp under `bench/gateway.ts`), which
// cost ~40 µs of garbage-collection CPU per call. Plain data fields on a class do not.
import { ServerResponse } from 'node:http';
import type { Call } from './call.ts';

/** What runs the `ending` stage of a call. */
export interface EndingStage {
  ending(call: Call): void;
}

export class EndingResponse extends ServerResponse {
  #call: Call | undefined = undefined;
  #stage: EndingStage | undefined = undefined;

  /** `stage.ending(call)` runs once, just before this response ends. */
  armEnding(call: Call, stage: EndingStage): void {
    this.#call = call;
    this.#stage = stage;
  }

  // biome-ignore lint/suspicious/noExplicitAny: ServerResponse.end's overloads, passed through unchanged
  override end(...args: any[]): this {
    const stage = this.#stage;
    if (stage !== undefined) {
      this.#stage = undefined;
      stage.ending(this.#call as Call);
      this.#call = undefined;
    }
    return super.end(...(args as [])) as this;
  }
}
