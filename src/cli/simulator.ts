// `portcullis simulator`: a local OpenAI/Anthropic/Gemini stand-in for tests, benchmarks and demos.
import { Simulator } from '../simulator/server.ts';
import { EXIT, usageError } from './errors.ts';
import type { ParsedOptions } from './program.ts';
import { untilSignal } from './serve.ts';

function int(v: unknown, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw usageError(`--${name} must be a whole number, not '${v}'`);
  return n;
}

export async function simulator(_args: string[], opts: ParsedOptions): Promise<number> {
  const port = int(opts.port, 'port');
  const sim = new Simulator({
    firstByteDelayMs: int(opts.firstByteMs, 'first-byte-ms'),
    chunkDelayMs: int(opts.chunkDelayMs, 'chunk-delay-ms'),
    outputTokens: int(opts.outputTokens, 'output-tokens'),
    tokensPerChunk: Math.max(1, int(opts.tokensPerChunk, 'tokens-per-chunk')),
    cachedTokens: int(opts.cachedTokens, 'cached-tokens'),
  });
  const url = await sim.listen(port, String(opts.host));
  process.stdout.write(`simulator listening on ${url}\n`);
  await untilSignal();
  await sim.close();
  return EXIT.ok;
}
