// How a stream ends on each surface: the events after which a client stops reading, and how the
// gateway ends a stream it refuses mid-way (a denied tool call, a blocked credential) in the
// surface's own wire format, so each official SDK — and Codex — raises it with the gateway's words.
import type { Surface } from '../policy/decision.ts';
import type { SseEvent } from './sse.ts';

/** The stream's last event on its surface: OpenAI chat's `[DONE]`, Anthropic's and Responses' own. */
export function isTerminalEvent(ev: SseEvent): boolean {
  return (
    ev.data === '[DONE]' ||
    ev.event === 'message_stop' ||
    ev.event === 'response.completed' ||
    ev.event === 'response.incomplete' ||
    ev.event === 'response.failed'
  );
}

/** The Responses API's error code for a request refused by policy; Codex does not retry it. */
export const RESPONSES_POLICY_REFUSAL = 'invalid_prompt';

export interface StreamFailure {
  code: string;
  /** The error type the surface's SDKs know (`permission_error`, `invalid_request_error`…). */
  type: string;
  message: string;
  /** Responses: the stream's next sequence number. */
  sequenceNumber: number;
}

/**
 * The closing SSE text: Anthropic an `error` event with `errorBody`; OpenAI Responses an `error`
 * event, which the OpenAI SDKs raise (its nested `error` makes it an APIError), then `response.failed`
 * with the same message, which is the event Codex reads (it ignores `error` events and would otherwise
 * report only that the stream closed before `response.completed`); OpenAI chat and Gemini a data-only
 * event with `errorBody`.
 *
 * `response.failed` carries OpenAI's code for a request its policy refuses, `invalid_prompt`, not the
 * gateway's own (which the `error` event keeps): Codex retries a failed response five times unless
 * its code says retrying cannot help, and each retry would be a new upstream call refused the same way.
 */
export function streamErrorEvents(surface: Surface, errorBody: unknown, failure: StreamFailure): Uint8Array {
  let text: string;
  switch (surface) {
    case 'anthropic.messages':
      text = `event: error\ndata: ${JSON.stringify(errorBody)}\n\n`;
      break;
    case 'openai.responses': {
      const { code, type, message, sequenceNumber } = failure;
      const error = {
        type: 'error',
        code,
        message,
        param: null,
        sequence_number: sequenceNumber,
        error: { type, code, message },
      };
      const failed = {
        type: 'response.failed',
        sequence_number: sequenceNumber + 1,
        response: {
          object: 'response',
          status: 'failed',
          error: { code: RESPONSES_POLICY_REFUSAL, message },
          output: [],
        },
      };
      text =
        `event: error\ndata: ${JSON.stringify(error)}\n\n` +
        `event: response.failed\ndata: ${JSON.stringify(failed)}\n\n`;
      break;
    }
    default:
      text = `data: ${JSON.stringify(errorBody)}\n\n`;
  }
  return new TextEncoder().encode(text);
}
