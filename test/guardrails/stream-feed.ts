// Feeding a streamed answer to a response scanner piece by piece, for the hold-back tests.
import { randomInt } from 'node:crypto';
import type { createResponseScanner } from '../../src/guardrails/index.ts';

/** Pieces of 1–`most` characters, at random. */
export const upTo = (most: number) => () => 1 + randomInt(most);
/** Pieces of `n` characters. */
export const every = (n: number) => () => n;

/**
 * Feeds `text` in pieces of `pieceLength()` characters: whether `rule` was reported (by the end of the
 * answer at the latest), how far the text was releasable before it was, and how much had been fed.
 */
export function feed(
  scanner: ReturnType<typeof createResponseScanner>,
  text: string,
  rule: string,
  pieceLength: () => number,
): { reported: boolean; released: number; fed: number } {
  let fed = 0;
  let released = 0;
  while (fed < text.length) {
    const delta = text.slice(fed, fed + pieceLength());
    fed += delta.length;
    if (scanner.push('t', delta).some((f) => f.rule === rule)) return { reported: true, released, fed };
    released = Math.max(released, scanner.releasableTo('t'));
  }
  const reported = (scanner.end() as { findings: { rule: string }[] }).findings.some((f) => f.rule === rule);
  return { reported, released, fed };
}
