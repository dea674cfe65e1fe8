// AWS event-stream framing (application/vnd.amazon.eventstream) as Bedrock streams Anthropic events:
// each frame's payload is `{"bytes": base64(event JSON)}`. Decoded into the SSE text Anthropic sends,
// so the usage trackers and translators read Bedrock streams like any Anthropic stream.
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';

export const EVENT_STREAM_CONTENT_TYPE = 'application/vnd.amazon.eventstream';

const codec = new EventStreamCodec(toUtf8, fromUtf8);

function sse(json: string): string {
  let type = 'message';
  try {
    const v = JSON.parse(json) as { type?: unknown };
    if (typeof v.type === 'string') type = v.type;
  } catch {
    // Sent on as data; the reader decides.
  }
  return `event: ${type}\ndata: ${json}\n\n`;
}

function headerString(headers: Record<string, { type: string; value: unknown }>, name: string): string {
  const h = headers[name];
  return h !== undefined && typeof h.value === 'string' ? h.value : '';
}

/** Frames in, SSE text out; frames split across chunks wait for their rest. */
export class EventStreamToSse {
  #buf: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): string {
    this.#buf = this.#buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#buf, chunk]);
    let out = '';
    while (this.#buf.length >= 4) {
      const total = this.#buf.readUInt32BE(0);
      if (this.#buf.length < total) break;
      const frame = this.#buf.subarray(0, total);
      this.#buf = this.#buf.subarray(total);
      out += this.#frame(frame);
    }
    return out;
  }

  /** The stream ended; bytes of an incomplete frame mean it was cut. */
  end(): string {
    if (this.#buf.length === 0) return '';
    this.#buf = Buffer.alloc(0);
    return sse(
      JSON.stringify({
        type: 'error',
        error: { type: 'api_error', message: 'the Bedrock stream was cut mid-frame' },
      }),
    );
  }

  #frame(frame: Uint8Array): string {
    const msg = codec.decode(frame);
    const headers = msg.headers as Record<string, { type: string; value: unknown }>;
    const body = toUtf8(msg.body);
    if (headerString(headers, ':message-type') === 'event') {
      const payload = JSON.parse(body) as { bytes?: string };
      // InvokeModel wraps each Anthropic event as base64 `bytes`; ConverseStream sends its events as they
      // are, named by `:event-type`.
      if (typeof payload.bytes === 'string')
        return sse(Buffer.from(payload.bytes, 'base64').toString('utf8'));
      return `event: ${headerString(headers, ':event-type')}\ndata: ${body}\n\n`;
    }
    // An exception frame: ThrottlingException, ModelStreamErrorException…
    const kind =
      headerString(headers, ':exception-type') || headerString(headers, ':error-code') || 'api_error';
    let message = body;
    try {
      const v = JSON.parse(body) as { message?: unknown; Message?: unknown };
      message = String(v.message ?? v.Message ?? body);
    } catch {
      // The body is the message.
    }
    const type = /Throttl/.test(kind)
      ? 'rate_limit_error'
      : /ServiceUnavailable|Overloaded/.test(kind)
        ? 'overloaded_error'
        : 'api_error';
    return sse(JSON.stringify({ type: 'error', error: { type, message: `${kind}: ${message}` } }));
  }
}

/** One Bedrock stream frame carrying an Anthropic event (the simulator speaks through this). */
export function encodeChunkFrame(eventJson: string): Uint8Array {
  return codec.encode({
    headers: {
      ':event-type': { type: 'string', value: 'chunk' },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: fromUtf8(JSON.stringify({ bytes: Buffer.from(eventJson, 'utf8').toString('base64') })),
  });
}

/** One ConverseStream frame (the simulator speaks through this). */
export function encodeEventFrame(eventType: string, payload: unknown): Uint8Array {
  return codec.encode({
    headers: {
      ':event-type': { type: 'string', value: eventType },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: fromUtf8(JSON.stringify(payload)),
  });
}

export function encodeExceptionFrame(exceptionType: string, message: string): Uint8Array {
  return codec.encode({
    headers: {
      ':exception-type': { type: 'string', value: exceptionType },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'exception' },
    },
    body: fromUtf8(JSON.stringify({ message })),
  });
}
