// CPU cost per call of the per-call metrics and of tracing at 100 %, measured in isolation (no
// network round trip, no other process) so the number holds on a busy machine where gateway
// throughput does not: N finished calls through CallMetrics.observe, and through a full trace (span
// start, stage events, upstream traceparent, end with attributes) exported over OTLP/HTTP to a local
// receiver that discards (its CPU is counted: it runs in this process). Compare with the gateway's
// CPU per call in `npm run bench gateway` (its "server CPU µs/call").
//   node bench/observability.ts [--calls 50000]
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { CallMetrics } from '../src/observability/call-metrics.ts';
import { CallTracer } from '../src/observability/tracing.ts';
import { makeRecord } from '../test/audit/helpers.ts';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '50000' } } });
const N = Number(values.calls);
const records = Array.from({ length: 1000 }, (_, i) =>
  makeRecord(i, {
    model: ['claude-sonnet-4', 'gpt-5', 'gemini-2.5-pro'][i % 3],
    team: ['platform', 'app-dev'][i % 2],
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

const cpu = (f: () => void | Promise<void>) => async () => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await f();
  const c = process.cpuUsage(c0);
  return { cpuUs: (c.user + c.system) / N, wallMs: performance.now() - t0 };
};

const metrics = new CallMetrics(new Registry());
const m = await cpu(() => {
  for (let i = 0; i < N; i++) metrics.observe(records[i % records.length], { ttfbMs: 120 });
})();

let received = 0;
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    received++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const port = (sink.address() as { port: number }).port;
const tracer = new CallTracer({ url: `http://127.0.0.1:${port}/v1/traces`, sampleRatio: 1 });
const t = await cpu(async () => {
  for (let i = 0; i < N; i++) {
    const r = records[i % records.length];
    const trace = tracer.start(
      Date.now(),
      { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      r.surface,
    );
    for (const stage of ['facts', 'reserve', 'inspect', 'decide']) trace.stage(stage, 0.5);
    trace.upstreamHeaders('anthropic', 1);
    trace.end(r, { finishReasons: ['end_turn'] });
    // Let the batch processor export as it would between calls.
    if (i % 512 === 511) await new Promise((res) => setImmediate(res));
  }
  await tracer.flush();
})();
await tracer.close();
sink.close();

console.log(`${N.toLocaleString('en-US')} calls`);
console.log(`  per-call metrics           ${m.cpuUs.toFixed(1).padStart(6)} µs CPU per call`);
console.log(
  `  tracing at 100 % + export  ${t.cpuUs.toFixed(1).padStart(6)} µs CPU per call (${received} OTLP requests)`,
);
