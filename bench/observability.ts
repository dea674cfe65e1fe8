// CPU cost per call of the per-call metrics and of tracing at 100 %, measured in isolation (no
// network round trip, no other process) so the number holds on a busy machine where gateway
// throughput does not: N finished calls through CallMetrics.observe (with a team budget), and through
// a full trace (span start, a stage boundary per pipeline stage, upstream traceparent, the answer's
// model and finish reasons read from a parsed answer, end with attributes) exported over OTLP/HTTP to
// a local receiver that discards, in a process of its own (a collector's CPU is not the gateway's;
// until 2026-12-07 it ran in this process and its CPU was counted too). Each figure is the
// median of 5 rounds after a warm-up round. The spans exported are counted: a batch processor whose
// queue overflows drops spans, which would make tracing look cheaper than it is. Compare with the
// gateway's CPU per call in `npm run bench gateway` (its "server CPU µs/call").
//   node bench/observability.ts [--calls 50000]
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { answerFactsOfJson } from '../src/observability/answer-facts.ts';
import { CallMetrics } from '../src/observability/call-metrics.ts';
import { OtlpSpanExporter } from '../src/observability/otlp-spans.ts';
import { CallTracer } from '../src/observability/tracing.ts';
import { makeRecord } from '../test/audit/helpers.ts';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '50000' } } });
const N = Number(values.calls);
const ROUNDS = 5;
const records = Array.from({ length: 1000 }, (_, i) =>
  makeRecord(i, {
    model: ['claude-sonnet-4', 'gpt-5', 'gemini-2.5-pro'][i % 3],
    team: ['platform', 'app-dev'][i % 2],
    decision: { allow: true, status: 200, code: 'ok', reasons: ['allowed by team platform'] },
    findings:
      i % 10 === 0
        ? [
            {
              action: 'redact',
              chain: 'default',
              fingerprint: 'f',
              path: 'messages[0]',
              rule: 'email',
              stage: 'request',
              step: 0,
              type: 'pii',
            },
          ]
        : [],
  }),
);
const budgets = [
  {
    id: 'team:platform:monthly',
    scope: 'team' as const,
    owner: 'platform',
    period: 'monthly' as const,
    limitUsd: 100,
    usedUsd: 49.5,
    requestUsd: 0.01,
  },
];
// A non-streamed Anthropic answer, as the tracing plugin finds it parsed.
const answer = {
  id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-20250514',
  content: [
    { type: 'text', text: 'I will look at the file first.'.repeat(20) },
    { type: 'tool_use', id: 'toolu_01', name: 'Read', input: { file_path: '/src/index.ts' } },
  ],
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: { input_tokens: 2095, output_tokens: 503, cache_read_input_tokens: 1024 },
};
const STAGES = ['facts', 'route', 'reserve', 'inspect', 'decide', 'rewrite'] as const;

async function median(run: () => void | Promise<void>): Promise<number> {
  await run();
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    await run();
    const c = process.cpuUsage(c0);
    rounds.push((c.user + c.system) / N);
  }
  return rounds.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)];
}

const metrics = new CallMetrics(new Registry());
const m = await median(() => {
  for (let i = 0; i < N; i++) metrics.observe(records[i % records.length], { ttfbMs: 120, budgets });
});

// The OTLP receiver: answers every POST and counts them; GET /count says how many.
const SINK = `
const http = require('node:http');
let received = 0;
const server = http.createServer((req, res) => {
  if (req.method === 'GET') return res.end(String(received));
  req.resume();
  req.on('end', () => { received++; res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(); });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;
const sink = spawn(process.execPath, ['-e', SINK], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise<number>((resolve) =>
  sink.stdout.once('data', (d) => resolve(Number(String(d).trim()))),
);
const otlp = new OtlpSpanExporter({ url: `http://127.0.0.1:${port}/v1/traces` });
let exported = 0;
const counting: SpanExporter = {
  export(spans, done) {
    exported += spans.length;
    otlp.export(spans, done);
  },
  shutdown: () => otlp.shutdown(),
  forceFlush: () => otlp.forceFlush(),
};
const tracer = new CallTracer({ exporter: counting, sampleRatio: 1 });
let emitted = 0;
const t = await median(async () => {
  for (let i = 0; i < N; i++) {
    const r = records[i % records.length];
    const trace = tracer.start(
      Date.now(),
      { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      r.surface,
    );
    for (const stage of STAGES) trace.stage(stage, 0.5);
    trace.upstreamHeaders('anthropic', 1);
    trace.stage('forward', 100);
    trace.stage('settle', 101);
    trace.end(r, answerFactsOfJson(answer));
    emitted += 2;
    // Let the batch processor export as it would between calls, and never let its queue (8,192
    // spans) overflow: a gateway's calls arrive spread out, not in one tight loop.
    if (i % 64 === 63) await new Promise((res) => setImmediate(res));
    if (i % 2048 === 2047) await tracer.flush();
  }
  await tracer.flush();
});
await tracer.close();
const received = Number(await (await fetch(`http://127.0.0.1:${port}/count`)).text());
sink.kill();

console.log(
  `${N.toLocaleString('en-US')} calls, median of ${ROUNDS} rounds; OTLP receiver in its own process`,
);
console.log(`  per-call metrics           ${m.toFixed(2).padStart(6)} µs CPU per call`);
console.log(
  `  tracing at 100 % + export  ${t.toFixed(2).padStart(6)} µs CPU per call (${received} OTLP requests, ${emitted - exported} of ${emitted} spans dropped)`,
);
