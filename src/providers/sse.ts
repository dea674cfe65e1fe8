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

/**
 * Lines are found with indexOf (a CR is only looked for once one has been seen), and the parse
 * resumes where the last chunk left off: an event split over many small chunks is scanned once.
 */
export class SseParser {
  #decoder = new TextDecoder();
  /** Text from the start of the event being read. */
  #buf = '';
  /** Where the next line starts in #buf. */
  #pos = 0;
  #event = '';
  #data: string[] | null = null;
  /** A CR has been seen: lines may end in CR or CRLF, not only LF. */
  #cr = false;

  /** Parse what `chunk` completes; the incomplete tail waits for the next chunk. */
  push(chunk: Uint8Array, out: SseEvent[]): void {
    this.pushText(this.#decoder.decode(chunk, { stream: true }), out);
  }

  /** Like `push`, for text already decoded. */
  pushText(text: string, out: SseEvent[]): void {
    this.#append(text);
    this.#drain(out, false);
  }

  /** The stream ended: an unterminated last event is still dispatched (with no blank line). */
  end(out: SseEvent[]): void {
    this.#append(this.#decoder.decode());
    this.#drain(out, true);
  }

  #append(text: string): void {
    if (!this.#cr && text.indexOf('\r') !== -1) this.#cr = true;
    this.#buf += text;
  }

  /** Text received but not yet part of a complete event. */
  pending(): string {
    return this.#buf;
  }

  #drain(out: SseEvent[], final: boolean): void {
    const buf = this.#buf;
    let start = 0;
    let pos = this.#pos;
    let event = this.#event;
    let data = this.#data;
    for (;;) {
      const lf = buf.indexOf('\n', pos);
      const cr = this.#cr ? buf.indexOf('\r', pos) : -1;
      let end: number;
      let next: number;
      if (cr === -1 || (lf !== -1 && lf < cr)) {
        if (lf === -1) break;
        end = lf;
        next = lf + 1;
      } else {
        end = cr;
        if (cr + 1 < buf.length) next = buf.charCodeAt(cr + 1) === 10 ? cr + 2 : cr + 1;
        else if (final) next = cr + 1;
        else break; // A CR at the end may be the first half of CRLF: wait for more.
      }
      if (end === pos) {
        // A blank line ends the event (a block of only comments is none).
        if (data !== null || event !== '') {
          out.push({
            event,
            data: data === null ? '' : data.length === 1 ? data[0] : data.join('\n'),
            raw: buf.slice(start, next),
            json: UNPARSED,
          });
        }
        start = next;
        event = '';
        data = null;
      } else if (buf.charCodeAt(pos) !== 58) {
        // A field line (a ':' first is a comment): `name: value`, or a bare name with an empty value.
        let colon = buf.indexOf(':', pos);
        if (colon === -1 || colon > end) colon = end;
        let from = colon + 1;
        if (from < end && buf.charCodeAt(from) === 32) from++;
        const value = from < end ? buf.slice(from, end) : '';
        const name = colon - pos;
        if (name === 4 && buf.startsWith('data', pos)) {
          if (data === null) data = [value];
          else data.push(value);
        } else if (name === 5 && buf.startsWith('event', pos)) event = value;
      }
      pos = next;
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
      this.#pos = 0;
      this.#event = '';
      this.#data = null;
      return;
    }
    this.#buf = start === 0 ? buf : buf.slice(start);
    this.#pos = pos - start;
    this.#event = event;
    this.#data = data;
  }
}
