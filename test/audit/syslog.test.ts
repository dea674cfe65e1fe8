import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { AuditLog, type AuditLogOptions } from '../../src/audit/log.ts';
import type { SyslogSinkConfig } from '../../src/audit/sinks/types.ts';
import { RSYSLOGD, startRsyslog } from '../observability/rsyslog.ts';
import { makeRecord, silentLogger, tempDir } from './helpers.ts';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG */
const RFC5424 =
  /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[portcullis@32473 seq="(\d+)" hash="([0-9a-f]{64})" requestId="[^"]*"\]) (\{.*\})$/;

function parse(line: string) {
  const m = RFC5424.exec(line);
  assert.ok(m, `not an RFC 5424 line: ${line.slice(0, 200)}`);
  return {
    pri: Number(m[1]),
    time: m[2],
    app: m[4],
    msgId: m[6],
    seq: Number(m[8]),
    hash: m[9],
    body: JSON.parse(m[10]) as { seq: number; hash: string; record: { requestId: string; costUsd: number } },
  };
}

describe('syslog sink (RFC 5424 over TLS) into a real rsyslog', {
  skip: RSYSLOGD ? false : 'rsyslogd is not installed',
}, () => {
  test('every record arrives once, in order, as RFC 5424 with the chain in structured data; an outage and a restart lose nothing', async (t) => {
    const dir = tempDir(t);
    const rsyslog = await startRsyslog();
    t.after(() => rsyslog.stop());
    const port = rsyslog.port;
    const registry = new Registry();
    const sink: SyslogSinkConfig = {
      type: 'syslog',
      host: '127.0.0.1',
      port,
      tls: { caFile: rsyslog.caFile },
      facility: 'local3',
      batchSize: 4,
      retryBaseMs: 10,
      retryMaxMs: 50,
    };
    const options: AuditLogOptions = {
      dataDir: dir,
      registry,
      sinks: [sink],
      sinkDrainTimeoutMs: 50,
      logger: silentLogger,
    };

    const first = AuditLog.open(options);
    for (const i of range(1, 10)) first.append(makeRecord(i, i === 3 ? { outcome: 'denied' } : {}));
    await first.flush();
    await rsyslog.waitFor((l) => l.length >= 10);
    const lines = rsyslog.lines().map(parse);
    assert.deepEqual(
      lines.map((l) => l.seq),
      range(1, 10),
    );
    assert.deepEqual(
      lines.map((l) => l.body.record.requestId),
      range(1, 10).map((i) => `req-${i}`),
    );
    assert.ok(lines.every((l) => l.body.seq === l.seq && l.body.hash === l.hash && l.app === 'portcullis'));
    // local3 (19) × 8 + info (6), and notice (5) for the denied call.
    assert.equal(lines[0].pri, 19 * 8 + 6);
    assert.equal(lines[2].pri, 19 * 8 + 5);
    assert.equal(lines[2].msgId, 'denied');
    assert.equal(lines[0].time, makeRecord(1).time);

    // The collector goes away; the gateway keeps writing, then restarts; the collector comes back.
    await rsyslog.stop(true);
    for (const i of range(11, 20)) first.append(makeRecord(i));
    await first.flush();
    await first.close();
    const second = AuditLog.open(options);
    t.after(() => second.close());
    for (const i of range(21, 25)) second.append(makeRecord(i));
    await second.flush();
    const back = await startRsyslog({ port, dir: rsyslog.dir });
    t.after(() => back.stop());
    assert.equal(await second.waitForSinks(20_000), true);
    const all = (await back.waitFor((l) => l.length >= 25)).map(parse);
    assert.deepEqual(
      all.map((l) => l.seq),
      range(1, 25),
    );
  });

  test('a collector whose certificate the CA did not sign gets nothing', async (t) => {
    const dir = tempDir(t);
    const rsyslog = await startRsyslog();
    t.after(() => rsyslog.stop());
    const registry = new Registry();
    const log = AuditLog.open({
      dataDir: dir,
      registry,
      logger: silentLogger,
      sinkDrainTimeoutMs: 200,
      // No caFile: the system CAs, which did not sign the test certificate.
      sinks: [{ type: 'syslog', host: '127.0.0.1', port: rsyslog.port, retryBaseMs: 10, retryMaxMs: 20 }],
    });
    log.append(makeRecord(1));
    await log.flush();
    assert.equal(await log.waitForSinks(300), false);
    await log.close();
    assert.deepEqual(rsyslog.lines(), []);
  });
});
