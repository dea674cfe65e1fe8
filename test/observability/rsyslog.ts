// A real rsyslog listening for RFC 5425 syslog over TLS on a free port, writing every message it
// receives to a file; with a throwaway CA and server certificate made by openssl.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export const RSYSLOGD = ['/usr/sbin/rsyslogd', '/usr/bin/rsyslogd'].find((p) => existsSync(p));

export interface Rsyslog {
  port: number;
  dir: string;
  /** PEM of the CA that signed the server certificate (for the client to trust). */
  caFile: string;
  /** Lines rsyslog wrote, each `<rawmsg>` as received. */
  lines(): string[];
  /** Waits until `pred` holds for the received lines. */
  waitFor(pred: (lines: string[]) => boolean, timeoutMs?: number): Promise<string[]>;
  /** Stops rsyslog; keepDir to start it again on the same port with the same files. */
  stop(keepDir?: boolean): Promise<void>;
}

/** Makes a CA and a certificate for 127.0.0.1 / localhost in `dir`. */
export function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  const key = join(dir, 'server-key.pem');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.pem');
  const ext = join(dir, 'ext.cnf');
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  run([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    caKey,
    '-out',
    ca,
    '-days',
    '2',
    '-subj',
    '/CN=portcullis test CA',
  ]);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=localhost']);
  writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-out',
    cert,
    '-days',
    '2',
    '-extfile',
    ext,
  ]);
  return { ca, cert, key };
}

export async function startRsyslog(opts: { port?: number; dir?: string } = {}): Promise<Rsyslog> {
  if (!RSYSLOGD) throw new Error('rsyslogd is not installed (apt-get install rsyslog rsyslog-gnutls)');
  // A restart on the same port (an outage) keeps the directory, its certificates and what was received.
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'portcullis-rsyslog-'));
  const { ca, cert, key } = existsSync(join(dir, 'server.pem'))
    ? { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server-key.pem') }
    : makeCertificates(dir);
  const out = join(dir, 'received.log');
  const portFile = join(dir, 'port');
  rmSync(portFile, { force: true });
  writeFileSync(
    join(dir, 'rsyslog.conf'),
    `global(workDirectory="${dir}"
  defaultNetstreamDriver="gtls"
  defaultNetstreamDriverCAFile="${ca}"
  defaultNetstreamDriverCertFile="${cert}"
  defaultNetstreamDriverKeyFile="${key}"
  maxMessageSize="256k")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="${opts.port ?? 0}" listenPortFileName="${portFile}")
template(name="raw" type="string" string="%rawmsg%\\n")
action(type="omfile" file="${out}" template="raw" flushOnTXEnd="on" asyncWriting="off")
`,
  );
  const child: ChildProcess = spawn(
    RSYSLOGD,
    ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c) => {
    stderr += c;
  });
  const deadline = Date.now() + 10_000;
  // rsyslog writes the port file for port 0 only; a fixed port is ready once it accepts connections.
  const ready = async () =>
    opts.port === undefined
      ? existsSync(portFile) && readFileSync(portFile, 'utf8').trim() !== ''
      : await accepts(opts.port);
  while (!(await ready())) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`rsyslogd did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const port = opts.port ?? Number(readFileSync(portFile, 'utf8').trim());
  const lines = () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : []);
  return {
    port,
    dir,
    caFile: ca,
    lines,
    async waitFor(pred, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const l = lines();
        if (pred(l)) return l;
        if (Date.now() > until)
          throw new Error(`rsyslog did not receive the expected lines; it has ${l.length}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop(keepDir = false) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
