// Feeding a streamed answer to a response scanner in fixed pieces, for the hold-back tests.
import type { CompiledChain } from '../../src/guardrails/compile.ts';
import { createResponseScanner } from '../../src/guardrails/index.ts';

/**
 * Streams `text` through a scanner of `chain` in pieces of `piece` characters: whether `rule` was
 * reported (by the end of the answer at the latest), and how far the text was releasable before it was.
 */
export function streamUntilReported(
  chain: CompiledChain,
  text: string,
  rule: string,
  piece: number,
): { reported: boolean; released: number } {
  const scanner = createResponseScanner(chain, 'anthropic.messages');
  let released = 0;
  for (let fed = 0; fed < text.length; fed += piece) {
    if (scanner.push('t', text.slice(fed, fed + piece)).some((f) => f.rule === rule))
      return { reported: true, released };
    released = Math.max(released, scanner.releasableTo('t'));
  }
  const { findings } = scanner.end() as { findings: { rule: string }[] };
  return { reported: findings.some((f) => f.rule === rule), released };
}
