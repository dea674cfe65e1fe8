// One byte per character of a text (a native Latin-1 write: each character's low byte), for the passes
// that read a long text faster as bytes than through charCodeAt: the keyword automaton, and the search
// for base64 runs, which reads four bytes at a time. Both read the text just scanned, so the copy is
// made once and kept until another text needs the buffer.
//
// A character above U+00FF becomes its low byte, which may read as an ASCII letter: the passes use the
// bytes only to find places worth a look, and read the text itself there.

/** Buffers up to this size are kept for the next text. */
const MAX_KEPT_BYTES = 1 << 20;

let kept: Buffer = Buffer.allocUnsafeSlow(0);
let keptWords: Uint32Array = new Uint32Array(0);
/** The text whose bytes `kept` holds (undefined: none). */
let held: string | undefined;

export interface Latin1 {
  /** bytes[i] is the low byte of text.charCodeAt(i), for i < text.length. */
  bytes: Buffer;
  /** The same memory four bytes at a time (aligned; the last, partial word is not the text's). */
  words: Uint32Array;
}

const view: Latin1 = { bytes: kept, words: keptWords };

/** The bytes of `text`, valid until the next call (for any text). */
export function latin1(text: string): Latin1 {
  const len = text.length;
  if (held === text && kept.length >= len) return view;
  let bytes = kept;
  if (bytes.length < len) {
    bytes = Buffer.allocUnsafeSlow(Math.max(len, Math.min(MAX_KEPT_BYTES, 2 * bytes.length)));
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
    if (bytes.length <= MAX_KEPT_BYTES) {
      kept = bytes;
      keptWords = words;
    } else {
      held = undefined;
      bytes.write(text, 0, len, 'latin1');
      return { bytes, words };
    }
  }
  bytes.write(text, 0, len, 'latin1');
  held = text;
  view.bytes = kept;
  view.words = keptWords;
  return view;
}
