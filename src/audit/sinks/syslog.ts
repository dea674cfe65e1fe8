// Audit records as RFC 5424 syslog messages over TCP, TLS by default (RFC 5425), with octet-counting
// framing, so a record's newlines or length never split it. One message per record: the MSG is the
// sink line `{"seq","prevHash","hash","record"}`, and structured data repeats seq and hash so a SIEM
// can index the chain without parsing the JSON.
//
// Syslog over TCP has no acknowledgement: a batch counts as delivered once the kernel took it. A
// connection that breaks right after can lose what was in flight; the collector's gap shows in the
// seq numbers, and `portcullis audit query --json` can fill it from the audit log.
import { readFileSync } from 'node:fs';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { hostname } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { type AuditEntry, entryLine } from '../record.ts';
import type { AuditSink, SyslogSinkConfig } from './types.ts';

const FACILITIES: Record<string, number> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

const SEVERITY = { warning: 4, notice: 5, info: 6 } as const;

/** Our documentation SD-ID (32473 is the enterprise number RFC 5612 reserves for examples). */
const SD_ID = 'portcullis@32473';

export interface SyslogSinkOptions extends Omit<SyslogSinkConfig, 'type'> {
  /** HOSTNAME field (default: this machine's name). */
  localHost?: string;
}

export class SyslogSink implements AuditSink {
  readonly name: string;
  readonly maxBatch: number;
  private readonly opts: SyslogSinkOptions;
  private readonly facility: number;
  private readonly appName: string;
  private readonly localHost: string;
  private readonly timeoutMs: number;
  private readonly tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string } | null;
  private socket: Socket | undefined;
  private broken: Error | undefined;

  constructor(options: SyslogSinkOptions) {
    this.opts = options;
    this.name = options.name ?? `syslog:${options.host}:${options.port}`;
    this.maxBatch = Math.max(1, Math.floor(options.batchSize ?? 200));
    const facility = FACILITIES[options.facility ?? 'local0'];
    if (facility === undefined)
      throw new Error(`audit sink ${this.name}: unknown syslog facility '${options.facility}'`);
    this.facility = facility;
    this.appName = header(options.appName ?? 'portcullis', 48);
    this.localHost = header(options.localHost ?? hostname(), 255);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    const t = options.tls ?? {};
    this.tls =
      t.enabled === false
        ? null
        : {
            ca: t.caFile ? readFileSync(t.caFile) : undefined,
            cert: t.certFile ? readFileSync(t.certFile) : undefined,
            key: t.keyFile ? readFileSync(t.keyFile) : undefined,
            // SNI carries host names only (RFC 6066); an address is still checked against the certificate.
            servername: t.serverName ?? (isIP(options.host) ? undefined : options.host),
          };
  }

  async deliver(entries: AuditEntry[], signal: AbortSignal): Promise<void> {
    const frames = entries.map((e) => {
      const msg = Buffer.from(this.message(e), 'utf8');
      return Buffer.concat([Buffer.from(`${msg.length} `), msg]);
    });
    const socket = await this.connected(signal);
    await new Promise<void>((resolve, reject) => {
      socket.write(Buffer.concat(frames), (err) => (err ? reject(err) : resolve()));
    });
    if (this.broken) throw this.broken;
  }

  /** One RFC 5424 message (without the octet count). */
  message(e: AuditEntry): string {
    const record = JSON.parse(e.json) as { time?: string; outcome?: string; requestId?: string };
    const severity =
      record.outcome === 'error'
        ? SEVERITY.warning
        : record.outcome === 'allowed'
          ? SEVERITY.info
          : SEVERITY.notice;
    const pri = this.facility * 8 + severity;
    const time = typeof record.time === 'string' ? record.time : new Date().toISOString();
    const msgId = header(record.outcome ?? 'audit', 32);
    const sd = `[${SD_ID} seq="${e.seq}" hash="${e.hash}" requestId="${sdValue(record.requestId ?? '')}"]`;
    return `<${pri}>1 ${time} ${this.localHost} ${this.appName} ${process.pid} ${msgId} ${sd} ${entryLine(e)}`;
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.end(() => resolve());
      setTimeout(resolve, 1000).unref();
    });
    s.destroy();
  }

  private async connected(signal: AbortSignal): Promise<Socket> {
    if (this.socket && !this.broken && !this.socket.destroyed) return this.socket;
    this.socket?.destroy();
    this.socket = undefined;
    this.broken = undefined;
    const { host, port } = this.opts;
    const socket = this.tls ? tlsConnect({ host, port, ...this.tls }) : tcpConnect({ host, port });
    const ready = this.tls ? 'secureConnect' : 'connect';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`connecting to ${host}:${port} timed out`)),
        this.timeoutMs,
      );
      const onAbort = () => fail(new Error('aborted'));
      const fail = (err: Error) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(err);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', fail);
      socket.once(ready, () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.off('error', fail);
        resolve();
      });
    });
    // A collector that closes or resets the connection fails the next delivery, which reconnects.
    socket.on('error', (err) => {
      this.broken = err;
    });
    socket.on('end', () => {
      this.broken ??= new Error('the syslog collector closed the connection');
    });
    socket.on('close', () => {
      this.broken ??= new Error('the syslog collector closed the connection');
    });
    // Collectors never write to us; reading keeps a half-closed connection noticed.
    socket.resume();
    this.socket = socket;
    return socket;
  }
}

/** A header field: printable US-ASCII without spaces, at most `max` characters, `-` when empty. */
function header(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** An SD-PARAM value with `"`, `\` and `]` escaped (RFC 5424 §6.3.3). */
function sdValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}
