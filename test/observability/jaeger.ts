// A real Jaeger (v2, built on the OpenTelemetry collector) on free loopback ports: OTLP/HTTP in,
// traces kept in memory and read back through its query API, OTLP logs printed by the collector's
// debug exporter (Jaeger stores no logs), which the tests read from its output.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTool, JAEGER } from '../../src/toolchain/tools.ts';

export const JAEGER_BIN = findTool(JAEGER);

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; traceID: string; spanID: string }[];
  tags: { key: string; type: string; value: unknown }[];
  startTime: number;
  duration: number;
}

export interface Jaeger {
  /** OTLP/HTTP base URL (append /v1/traces or /v1/logs). */
  otlpUrl: string;
  queryUrl: string;
  /** Spans of a trace, once it holds at least `minSpans`. */
  trace(traceId: string, minSpans?: number, timeoutMs?: number): Promise<JaegerSpan[]>;
  /** What the debug exporter printed (the OTLP log records it received). */
  output(): string;
  waitForOutput(pred: (out: string) => boolean, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function startJaeger(): Promise<Jaeger> {
  if (!JAEGER_BIN)
    throw new Error('jaeger is not installed (node scripts/setup-tools.ts --with-observability)');
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-jaeger-'));
  const [otlp, query, grpc] = [await freePort(), await freePort(), await freePort()];
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
    logs:
      receivers: [otlp]
      exporters: [debug]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    storage:
      traces: mem
    http:
      endpoint: 127.0.0.1:${query}
    grpc:
      endpoint: 127.0.0.1:${grpc}
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${otlp}
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
  debug:
    verbosity: detailed
`,
  );
  const child: ChildProcess = spawn(JAEGER_BIN, ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c) => {
    out += c;
  });
  child.stderr?.on('data', (c) => {
    out += c;
  });
  const queryUrl = `http://127.0.0.1:${query}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // Its graceful stop waits ~10 s for nothing a test needs (storage is in memory).
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${queryUrl}/api/services`);
      if (res.ok) break;
    } catch {}
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`jaeger did not start:\n${out.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const poll = async <T>(what: string, timeoutMs: number, get: () => Promise<T | undefined>): Promise<T> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const v = await get();
      if (v !== undefined) return v;
      if (Date.now() > until) throw new Error(`jaeger: ${what} did not arrive in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return {
    otlpUrl: `http://127.0.0.1:${otlp}`,
    queryUrl,
    trace: (traceId, minSpans = 1, timeoutMs = 15_000) =>
      poll(`trace ${traceId}`, timeoutMs, async () => {
        const res = await fetch(`${queryUrl}/api/traces/${traceId}`);
        if (!res.ok) return undefined;
        const body = (await res.json()) as { data?: { spans: JaegerSpan[] }[] };
        const spans = body.data?.[0]?.spans ?? [];
        return spans.length >= minSpans ? spans : undefined;
      }),
    output: () => out,
    waitForOutput: (pred, timeoutMs = 15_000) =>
      poll('output', timeoutMs, async () => (pred(out) ? out : undefined)),
    stop,
  };
}
