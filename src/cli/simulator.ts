// `portcullis simulator`: a local OpenAI/Anthropic/Gemini stand-in for tests, benchmarks and demos.
import { parseArgs } from 'node:util';
import { Simulator } from '../simulator/server.ts';
import { untilSignal } from './serve.ts';

const USAGE =
  'usage: portcullis simulator [--port 8787] [--host 127.0.0.1] [--first-byte-ms 0] [--chunk-delay-ms 0]\n' +
  '                            [--output-tokens 16] [--tokens-per-chunk 2] [--cached-tokens 0]\n' +
  'Per request: x-sim-status, x-sim-delay-ms, x-sim-chunk-delay-ms, x-sim-output-tokens, x-sim-cached-tokens,\n' +
  'x-sim-fail-after headers, or a model named sim-error-<status>.\n';

function int(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, got '${v}'`);
  return n;
}

export async function simulator(args: string[]): Promise<number> {
  let sim: Simulator;
  let port: number;
  let host: string;
  try {
    const { values } = parseArgs({
      args,
      options: {
        port: { type: 'string', default: '8787' },
        host: { type: 'string', default: '127.0.0.1' },
        'first-byte-ms': { type: 'string', default: '0' },
        'chunk-delay-ms': { type: 'string', default: '0' },
        'output-tokens': { type: 'string', default: '16' },
        'tokens-per-chunk': { type: 'string', default: '2' },
        'cached-tokens': { type: 'string', default: '0' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    port = int(values.port, 'port');
    host = values.host;
    sim = new Simulator({
      firstByteDelayMs: int(values['first-byte-ms'], 'first-byte-ms'),
      chunkDelayMs: int(values['chunk-delay-ms'], 'chunk-delay-ms'),
      outputTokens: int(values['output-tokens'], 'output-tokens'),
      tokensPerChunk: Math.max(1, int(values['tokens-per-chunk'], 'tokens-per-chunk')),
      cachedTokens: int(values['cached-tokens'], 'cached-tokens'),
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const url = await sim.listen(port, host);
  process.stdout.write(`simulator listening on ${url}\n`);
  await untilSignal();
  await sim.close();
  return 0;
}
