import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { AuditLog, type AuditLogOptions } from '../../src/audit/log.ts';
import { createSink } from '../../src/audit/sinks/index.ts';
import type { HttpSinkConfig } from '../../src/audit/sinks/types.ts';
import { makeRecord, silentLogger, tempDir } from './helpers.ts';

/** A SIEM collector: stores every NDJSON line it accepts; can be told to fail the next requests. */
class Collector {
  readonly lines: { seq: number; record: { requestId: string } }[] = [];
  readonly headers: IncomingHttpHeaders[] = [];
  failNext = 0;
  private server: Server | undefined;

  async listen(port = 0): Promise<number> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        if (this.failNext > 0) {
          this.failNext -= 1;
          res.writeHead(503).end();
          return;
        }
        this.headers.push(req.headers);
        for (const l of Buffer.concat(chunks).toString('utf8').split('\n'))
          if (l) this.lines.push(JSON.parse(l));
        res.writeHead(204).end();
      });
    });
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** A port nothing listens on (taken from the OS, then released). */
async function closedPort(): Promise<number> {
  const c = new Collector();
  const port = await c.listen();
  await c.close();
  return port;
}

async function metric(registry: Registry, name: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m ? m.values.reduce((sum, v) => sum + v.value, 0) : 0;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('HTTP sink', () => {
  test('a collector that is down, then the gateway restarts, then it comes back: every record once, in order', async (t) => {
    const dir = tempDir(t);
    const port = await closedPort();
    const registry = new Registry();
    const sink: HttpSinkConfig = {
      type: 'http',
      url: `http://127.0.0.1:${port}/ingest?token=abc`,
      headers: { Authorization: { env: 'TEST_SIEM_TOKEN', prefix: 'Bearer ' }, 'X-Source': 'portcullis' },
      batchSize: 7,
      retryBaseMs: 10,
      retryMaxMs: 40,
    };
    const options: AuditLogOptions = {
      dataDir: dir,
      registry,
      sinks: [sink],
      sinkDrainTimeoutMs: 50,
      env: { TEST_SIEM_TOKEN: 't0k3n' },
      logger: silentLogger,
    };

    const first = AuditLog.open(options);
    for (const i of range(1, 30)) first.append(makeRecord(i));
    await first.flush();
    while ((await metric(registry, 'portcullis_audit_sink_failures_total')) === 0) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await first.close(); // the collector is still down: nothing delivered, nothing lost

    const second = AuditLog.open(options);
    t.after(() => second.close());
    for (const i of range(31, 45)) second.append(makeRecord(i));
    await second.flush();

    const collector = new Collector();
    t.after(() => collector.close());
    await collector.listen(port);
    assert.equal(await second.waitForSinks(20_000), true);

    assert.deepEqual(
      collector.lines.map((l) => l.seq),
      range(1, 45),
    );
    assert.deepEqual(
      collector.lines.map((l) => l.record.requestId),
      range(1, 45).map((i) => `req-${i}`),
    );
    assert.ok(
      collector.headers.every((h) => h.authorization === 'Bearer t0k3n' && h['x-source'] === 'portcullis'),
    );
    assert.equal(collector.headers[0]['x-portcullis-audit-seq'], '1-7');
    assert.equal(collector.headers[0]['content-type'], 'application/x-ndjson');
    assert.equal(await metric(registry, 'portcullis_audit_sink_delivered_total'), 45);
  });

  test('error answers are retried with backoff until accepted, without duplicates', async (t) => {
    const dir = tempDir(t);
    const collector = new Collector();
    t.after(() => collector.close());
    const port = await collector.listen();
    collector.failNext = 3;
    const registry = new Registry();
    const log = AuditLog.open({
      dataDir: dir,
      registry,
      logger: silentLogger,
      sinks: [{ type: 'http', url: `http://127.0.0.1:${port}/`, retryBaseMs: 5, retryMaxMs: 20 }],
    });
    for (const i of range(1, 12)) log.append(makeRecord(i));
    await log.close();
    assert.deepEqual(
      collector.lines.map((l) => l.seq),
      range(1, 12),
    );
    assert.equal(await metric(registry, 'portcullis_audit_sink_failures_total'), 3);
  });

  test('a header read from an unset environment variable fails at startup, naming the variable only', () => {
    assert.throws(
      () =>
        createSink(
          { type: 'http', url: 'http://127.0.0.1:1/', headers: { authorization: { env: 'NOPE_TOKEN' } } },
          { dataDir: '.', env: {} },
        ),
      /NOPE_TOKEN/,
    );
    assert.throws(
      () => createSink({ type: 'http', url: 'http://user:pw@127.0.0.1:1/' }, { dataDir: '.', env: {} }),
      /not in the URL/,
    );
  });
});
