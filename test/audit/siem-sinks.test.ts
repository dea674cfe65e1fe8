// The SIEM sinks against real servers where one runs here: Jaeger's OTLP receiver (OTLP logs) and
// an S3-compatible store (gofakes3). Splunk cannot run here: its HEC sink is checked against a
// server that answers as HEC does (token, status and `{"text","code"}` body).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { AuditLog } from '../../src/audit/log.ts';
import { findTool, GOFAKES3 } from '../../src/toolchain/tools.ts';
import { JAEGER_BIN, startJaeger } from '../observability/jaeger.ts';
import { makeRecord, silentLogger, tempDir } from './helpers.ts';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('OTLP logs sink into a real Jaeger (OpenTelemetry collector)', {
  skip: JAEGER_BIN ? false : 'jaeger is not installed',
}, () => {
  test('each audit record becomes one log record with its seq and hash', async (t) => {
    const dir = tempDir(t);
    const jaeger = await startJaeger();
    t.after(() => jaeger.stop());
    const log = AuditLog.open({
      dataDir: dir,
      registry: new Registry(),
      logger: silentLogger,
      sinks: [
        {
          type: 'otlp',
          url: `${jaeger.otlpUrl}/v1/logs`,
          headers: { 'x-tenant': { env: 'TEST_TENANT' } },
          retryBaseMs: 10,
          retryMaxMs: 50,
        },
      ],
      env: { TEST_TENANT: 'acme' },
    });
    t.after(() => log.close());
    for (const i of range(1, 6)) log.append(makeRecord(i, { team: 'platform', costUsd: 0.0125 }));
    assert.equal(await log.waitForSinks(15_000), true);
    const out = await jaeger.waitForOutput((o) => o.includes('portcullis.audit.seq: Int(6)'));
    for (const i of range(1, 6)) assert.match(out, new RegExp(`portcullis\\.audit\\.seq: Int\\(${i}\\)`));
    assert.match(out, /req-3/);
    assert.match(out, /service\.name: Str\(portcullis\)/);
    assert.match(out, /EventName: portcullis\.audit/);
  });
});

/** gofakes3 on a free port with a bucket `audit`, in memory. */
async function startS3(): Promise<{ url: string; stop(): Promise<void> }> {
  const bin = findTool(GOFAKES3);
  if (!bin) throw new Error('gofakes3 is not installed');
  const port = await freePort();
  const child: ChildProcess = spawn(
    bin,
    ['-backend', 'memory', '-host', `127.0.0.1:${port}`, '-initialbucket', 'audit', '-quiet'],
    { stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await fetch(`${url}/audit`);
      break;
    } catch {
      if (i > 100) throw new Error('gofakes3 did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    },
  };
}

describe('S3 sink into an S3-compatible store', {
  skip: findTool(GOFAKES3) ? false : 'gofakes3 is not installed',
}, () => {
  test('batched gzip objects named by seq range hold every record once, in order', async (t) => {
    const dir = tempDir(t);
    const s3 = await startS3();
    t.after(() => s3.stop());
    const log = AuditLog.open({
      dataDir: dir,
      registry: new Registry(),
      logger: silentLogger,
      sinks: [
        {
          type: 's3',
          bucket: 'audit',
          endpoint: s3.url,
          prefix: 'gw/{instance}/',
          accessKeyId: { fromEnv: 'TEST_S3_KEY' },
          secretAccessKey: { fromEnv: 'TEST_S3_SECRET' },
          batchSize: 10,
          flushIntervalMs: 60_000,
        },
      ],
      env: { TEST_S3_KEY: 'AKIDEXAMPLE', TEST_S3_SECRET: 'secret', PORTCULLIS_INSTANCE: 'gw-7' },
    });
    for (const i of range(1, 25)) log.append(makeRecord(i));
    await log.flush();
    // Two full objects go at once; the last 5 records wait for the interval, or for close.
    const list = async () => {
      const xml = await (await fetch(`${s3.url}/audit?list-type=2&prefix=gw/`)).text();
      return [...xml.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]);
    };
    for (let i = 0; (await list()).length < 2 && i < 200; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal((await list()).length, 2);
    await log.close();
    const keys = await list();
    assert.deepEqual(keys, [
      'gw/gw-7/2025/06/01/000000000001-000000000010.jsonl.gz',
      'gw/gw-7/2025/06/01/000000000011-000000000020.jsonl.gz',
      'gw/gw-7/2025/06/01/000000000021-000000000025.jsonl.gz',
    ]);
    const seqs: number[] = [];
    for (const key of keys) {
      const body = Buffer.from(await (await fetch(`${s3.url}/audit/${key}`)).arrayBuffer());
      for (const line of gunzipSync(body).toString('utf8').split('\n').filter(Boolean)) {
        const e = JSON.parse(line) as { seq: number; record: { requestId: string } };
        assert.equal(e.record.requestId, `req-${e.seq}`);
        seqs.push(e.seq);
      }
    }
    assert.deepEqual(seqs, range(1, 25));
  });
});

describe('Splunk HEC sink', () => {
  test('posts HEC events with the token, the call time and the record; retries a refusal', async (t) => {
    const dir = tempDir(t);
    const events: {
      time: number;
      sourcetype: string;
      event: { seq: number; record: { requestId: string } };
    }[] = [];
    const headers: IncomingHttpHeaders[] = [];
    let refuse = 1;
    const server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        headers.push(req.headers);
        res.setHeader('content-type', 'application/json');
        if (req.headers.authorization !== 'Splunk hec-t0ken' || req.url !== '/services/collector/event') {
          res.writeHead(401).end('{"text":"Invalid token","code":4}');
          return;
        }
        if (refuse-- > 0) {
          res.writeHead(503).end('{"text":"Server is busy","code":9}');
          return;
        }
        for (const line of Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean))
          events.push(JSON.parse(line));
        res.writeHead(200).end('{"text":"Success","code":0}');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const log = AuditLog.open({
      dataDir: dir,
      registry: new Registry(),
      logger: silentLogger,
      sinks: [
        {
          type: 'splunk',
          url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          token: { fromEnv: 'TEST_HEC' },
          retryBaseMs: 10,
          retryMaxMs: 20,
        },
      ],
      env: { TEST_HEC: 'hec-t0ken' },
    });
    for (const i of range(1, 4)) log.append(makeRecord(i));
    await log.close();
    assert.deepEqual(
      events.map((e) => e.event.seq),
      range(1, 4),
    );
    assert.equal(events[0].time, Date.parse(makeRecord(1).time) / 1000);
    assert.equal(events[0].sourcetype, 'portcullis:audit');
    assert.equal(events[2].event.record.requestId, 'req-3');
    assert.equal(headers.length, 2);
  });

  test('an unset token variable fails at startup naming the variable, never a value', () => {
    assert.throws(
      () =>
        AuditLog.open({
          dataDir: '/nonexistent-never-created',
          registry: new Registry(),
          logger: silentLogger,
          sinks: [{ type: 'splunk', url: 'https://splunk.example.com:8088', token: { fromEnv: 'NOPE_HEC' } }],
          env: {},
        }),
      /token reads environment variable NOPE_HEC, which is not set/,
    );
  });
});
