// What the simulator computes for a call before speaking it in a provider's wire format.

export interface SimCall {
  id: string;
  /** Epoch seconds. */
  created: number;
  model: string;
  /** Output, one word per token. */
  words: string[];
  /** The output cut into streamed pieces. */
  pieces: string[];
  finish: 'stop' | 'length';
  /** Input tokens, cached ones included. */
  inputTokens: number;
  cachedTokens: number;
  body: Record<string, unknown>;
  /** The answer calls this tool after its text, arguments a JSON object's text. */
  toolCall?: { name: string; arguments: string };
}

export type SimReply =
  | { kind: 'json'; status: number; body: unknown; headers?: Record<string, string> }
  /** Each part is written as its own chunk, with the per-chunk delay between parts. */
  | { kind: 'stream'; contentType: string; parts: string[]; binary?: boolean };

export function json(body: unknown, status = 200): SimReply {
  return { kind: 'json', status, body };
}

export function sse(parts: string[]): SimReply {
  return { kind: 'stream', contentType: 'text/event-stream; charset=utf-8', parts };
}
