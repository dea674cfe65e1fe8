// Incremental Server-Sent Events parser (the WHATWG event-stream format): fed arbitrary chunks, it
// yields complete events with their raw text, so a caller can drop an event without re-encoding others.

export interface SseEvent {
  /** The `event:` field, '' when absent. */
  event: string;
  /** The `data:` lines joined with '\n'. */
  data: string;
  /** The event's exact text including its terminating blank line. */
  raw: string;
  /** `data` parsed as JSON, once, by the first reader (`eventJson`); UNPARSED until then. */
  json: unknown;
}

export const UNPARSED: unique symbol = Symbol('unparsed');

/** The event's data as JSON (undefined when it is not JSON), parsed at most once per event. */
export function eventJson(ev: SseEvent): unknown {
  if (ev.json === UNPARSED) {
    try {
      ev.json = ev.data === '' || ev.data === '[DONE]' ? undefined : JSON.parse(ev.data);
    } catch {
      ev.json = undefined;
    }
  }
  return ev.json;
}

const LINE = /[^\r\n]*(?:\r\n|\n|\r)/y;

export class SseParser {
  #decoder = new TextDecoder();
  #buf = '';

  /** Parse what `chunk` completes; the incomplete tail waits for the next chunk. */
  push(chunk: Uint8Array, out: SseEvent[]): void {
    this.#buf += this.#decoder.decode(chunk, { stream: true });
    this.#drain(out, false);
  }

  /** Like `push`, for text already decoded. */
  pushText(text: string, out: SseEvent[]): void {
    this.#buf += text;
    this.#drain(out, false);
  }

  /** The stream ended: an unterminated last event is still dispatched (with no blank line). */
  end(out: SseEvent[]): void {
    this.#buf += this.#decoder.decode();
    this.#drain(out, true);
  }

  /** Text received but not yet part of a complete event. */
  pending(): string {
    return this.#buf;
  }

  #drain(out: SseEvent[], final: boolean): void {
    const buf = this.#buf;
    let start = 0;
    let pos = 0;
    let event = '';
    let data: string[] | null = null;
    for (;;) {
      LINE.lastIndex = pos;
      const m = LINE.exec(buf);
      if (m === null) break;
      const end = pos + m[0].length;
      // A lone CR at the end may be the first half of CRLF: wait for more.
      if (!final && end === buf.length && buf.charCodeAt(end - 1) === 13) break;
      const line = m[0].replace(/\r?\n$|\r$/, '');
      pos = end;
      if (line === '') {
        if (data !== null || event !== '') {
          out.push({
            event,
            data: data === null ? '' : data.join('\n'),
            raw: buf.slice(start, pos),
            json: UNPARSED,
          });
        }
        start = pos;
        event = '';
        data = null;
        continue;
      }
      if (line.charCodeAt(0) === 58) continue; // ':' comment
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
      if (field === 'data') {
        if (data === null) data = [value];
        else data.push(value);
      } else if (field === 'event') event = value;
    }
    if (final) {
      const rest = buf.slice(pos);
      if (rest.length > 0 && rest.startsWith('data:')) {
        let value = rest.slice(5);
        if (value.charCodeAt(0) === 32) value = value.slice(1);
        if (data === null) data = [value];
        else data.push(value);
      }
      if (data !== null) out.push({ event, data: data.join('\n'), raw: buf.slice(start), json: UNPARSED });
      this.#buf = '';
      return;
    }
    this.#buf = start === 0 ? buf : buf.slice(start);
  }
}
