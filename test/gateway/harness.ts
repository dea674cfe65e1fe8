// Starts a real simulator and a real gateway in-process on free ports, with a hand-made snapshot.

import { connect } from 'node:net';
import { Writable } from 'node:stream';
import type { Authenticator } from '../../src/gateway/authenticate.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import type { Plugin } from '../../src/gateway/plugin.ts';
import { createGateway, type Gateway } from '../../src/gateway/server.ts';
import { SnapshotHolder } from '../../src/gateway/snapshot-holder.ts';
import type { UsageEvent } from '../../src/gateway/usage.ts';
import { Simulator, type SimulatorOptions } from '../../src/simulator/server.ts';
import { collectUsageEvents } from '../fixtures/usage-events.ts';
import { type FakeOptions, fakeSnapshot, setUpstreamEnv } from './fake-snapshot.ts';

export interface Stack {
  sim: Simulator;
  gw: Gateway;
  url: string;
  snapshot: ReturnType<typeof fakeSnapshot>;
  events: UsageEvent[];
  /** Everything the gateway logged. */
  logs: string[];
  /** Resolves with the next usage event. */
  nextEvent(): Promise<UsageEvent>;
  close(): Promise<void>;
}

export async function startStack(
  opts: {
    fake?: Partial<FakeOptions>;
    plugins?: Plugin[];
    authenticators?: Authenticator[];
    sim?: SimulatorOptions;
    noSnapshot?: boolean;
  } = {},
): Promise<Stack> {
  setUpstreamEnv();
  const sim = new Simulator(opts.sim);
  const simUrl = await sim.listen();
  const snapshot = fakeSnapshot({ upstream: simUrl, ...opts.fake });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const { plugin, events, nextEvent } = collectUsageEvents();
  const gw = createGateway({
    holder: new SnapshotHolder(opts.noSnapshot ? undefined : snapshot),
    plugins: [...(opts.plugins ?? []), plugin],
    authenticators: opts.authenticators,
    logger: createLogger('info', sink),
  });
  const url = await gw.listen(0);
  return {
    sim,
    gw,
    url,
    snapshot,
    events,
    logs,
    nextEvent,
    async close() {
      await gw.close();
      await sim.close();
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: tests read response fields freely
type Json = any;

export async function call(
  url: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
  method = 'POST',
): Promise<{ status: number; headers: Headers; text: string; json: () => Json }> {
  const res = await fetch(url + path, {
    method,
    headers: method === 'POST' ? { 'content-type': 'application/json', ...headers } : headers,
    body: method === 'POST' ? (typeof body === 'string' ? body : JSON.stringify(body)) : undefined,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** Sends `head` (request line and headers, CRLF separated, no final blank line) and `body` on a raw socket. */
export function rawRequest(url: string, head: string, body = ''): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), hostname, () => {
      sock.write(`${head}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
  });
}
