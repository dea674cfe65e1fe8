// Strangers and slow clients cannot pin the gateway's memory or connections: 32 keyless uploads that
// declare 31 MiB and stall, 150 connections dripping their headers and 150 dripping a keyed body.
// The gateway's resident set stays within 100 MB of idle, and every connection is closed by the
// gateway within its time-outs (headers 2 s, whole request 4 s here, checked every second).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, test } from 'node:test';
import { e2ePolicy, killAll, startGateway, startSimulator } from '../e2e/helpers.ts';

after(killAll);

const HEADERS_TIMEOUT_MS = 2000;
const REQUEST_TIMEOUT_MS = 4000;
/** The server's check interval (1 s) plus this machine's scheduling. */
const SLACK_MS = 3000;
const MIB = 1024 * 1024;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** A client connection that reports when the gateway closed it (ms after it opened). */
function open(port: number, onOpen: (s: net.Socket) => void): Promise<number> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect(port, '127.0.0.1', () => onOpen(s));
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('close', () => resolve(performance.now() - t0));
  });
}

/** Writes `chunk` every `everyMs` until the socket closes. */
function drip(s: net.Socket, chunk: string, everyMs: number): void {
  const timer = setInterval(() => {
    if (s.destroyed || !s.writable) clearInterval(timer);
    else s.write(chunk);
  }, everyMs);
  s.on('close', () => clearInterval(timer));
}

test('32 keyless stalled 31 MiB uploads and 300 slow-drip connections: memory stays near idle, all closed within the time-outs', async () => {
  const { sim, url: simUrl } = await startSimulator();
  const policy = e2ePolicy([{ id: 'slow-client' }]);
  const key = policy.keys['slow-client'];
  const gw = await startGateway({
    policyDir: policy.dir,
    simUrl,
    env: {
      PORTCULLIS_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      PORTCULLIS_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    },
  });
  const pid = gw.child.pid as number;
  const port = Number(new URL(gw.url).port);
  try {
    for (let i = 0; i < 3; i++) await fetch(`${gw.url}/healthz`);
    const idle = rssMb(pid);
    let peak = idle;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(pid));
    }, 100);

    const body = Buffer.alloc(31 * MIB - 1, 0x20);
    const uploads = Array.from({ length: 32 }, () =>
      open(port, (s) => {
        s.write(
          `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${31 * MIB}\r\n\r\n`,
        );
        s.write(body);
      }),
    );
    const headerDrips = Array.from({ length: 150 }, () =>
      open(port, (s) => {
        s.write('POST /v1/messages HTTP/1.1\r\nHost: x\r\n');
        drip(s, 'x', 200);
      }),
    );
    const bodyDrips = Array.from({ length: 150 }, () =>
      open(port, (s) => {
        s.write(
          `POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: ${key}\r\nContent-Type: application/json\r\nContent-Length: ${MIB}\r\n\r\n{`,
        );
        drip(s, ' ', 200);
      }),
    );

    const uploadClosed = await Promise.all(uploads);
    const headerClosed = await Promise.all(headerDrips);
    const bodyClosed = await Promise.all(bodyDrips);
    clearInterval(sampler);
    const max = (xs: number[]) => Math.max(...xs);
    process.stdout.write(
      `# RSS idle ${idle.toFixed(0)} MB, peak ${peak.toFixed(0)} MB; closed after: uploads ${max(uploadClosed).toFixed(0)} ms, ` +
        `header drips ${max(headerClosed).toFixed(0)} ms, body drips ${max(bodyClosed).toFixed(0)} ms\n`,
    );
    assert.ok(peak - idle < 100, `RSS grew ${(peak - idle).toFixed(0)} MB`);
    assert.ok(
      max(uploadClosed) < REQUEST_TIMEOUT_MS,
      'keyless uploads are refused without reading their bodies',
    );
    assert.ok(max(headerClosed) < HEADERS_TIMEOUT_MS + SLACK_MS, 'slow headers are cut');
    assert.ok(max(bodyClosed) < REQUEST_TIMEOUT_MS + SLACK_MS, 'slow bodies are cut');
    // The gateway still serves.
    assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
  } finally {
    await gw.stop();
    await sim.close();
  }
});
