// What each wire format's translation module provides: a reader and a writer for requests, answers,
// stream events and errors, all through the neutral shapes of ir.ts.
import type { SseEvent } from '../sse.ts';
import type { IrEvent, IrRequest, IrResponse } from './ir.ts';

/** What a writer needs to know about the request it answers. */
export interface AnswerContext {
  /** The model the client asked for: answers name it, whatever model served them. */
  model: string;
  /** Tools the client declared as free-form (Responses `custom`), whose calls are written back as such. */
  freeformTools: ReadonlySet<string>;
  /** Responses tools declared inside a namespace, by their neutral name. */
  namespaced?: ReadonlyMap<string, { namespace: string; name: string }>;
  /** Chat Completions: the client asked for the usage chunk (`stream_options.include_usage`). */
  streamUsage?: boolean;
}

export interface StreamReader {
  /** Reads one upstream event, appending what it means to `out`. */
  read(ev: SseEvent, out: IrEvent[]): void;
  /** Upstream ended: whatever a missing final event implies. */
  end(out: IrEvent[]): void;
}

export interface StreamWriter {
  /** The client's bytes for one event ('' when it adds nothing yet). */
  write(ev: IrEvent): string;
}

export interface WireFormat {
  readRequest(body: Record<string, unknown>, model: string): IrRequest;
  /** The upstream body; the model (and, for Gemini, streaming) also goes into the path. */
  writeRequest(req: IrRequest): Record<string, unknown>;
  readResponse(body: unknown): IrResponse;
  writeResponse(res: IrResponse, ctx: AnswerContext): unknown;
  streamReader(): StreamReader;
  streamWriter(ctx: AnswerContext): StreamWriter;
  /** The message of an error body in this format (what an upstream said when it refused). */
  errorMessage(body: unknown): string | undefined;
}
