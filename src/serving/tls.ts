// Native TLS for the gateway: an HTTPS server for Fastify's serverFactory whose certificate and key
// are re-read when their files change (cert-manager or a Kubernetes Secret rotating them), without a
// restart or a dropped connection. A rotated pair that does not load is logged and the old one kept.
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { EndingResponse } from '../gateway/ending-response.ts';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface ReloadingTls {
  /** For Fastify's `serverFactory` option. */
  serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => Server;
  /** Re-read the files now; resolves to whether the new pair was taken. */
  reload(): boolean;
  close(): void;
}

function readPair(files: TlsFiles): { cert: Buffer; key: Buffer } {
  const pair = { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
  createSecureContext(pair); // throws on a bad or mismatched pair before the server takes it
  return pair;
}

export function reloadingTls(files: TlsFiles, log: Logger, pollMs = 2000): ReloadingTls {
  let current = readPair(files);
  let server: Server | undefined;
  const watchers: FSWatcher[] = [];
  let poll: NodeJS.Timeout | undefined;
  let debounce: NodeJS.Timeout | undefined;

  const reload = (): boolean => {
    let next: { cert: Buffer; key: Buffer };
    try {
      next = readPair(files);
    } catch (err) {
      log.error(
        { certFile: files.certFile, keyFile: files.keyFile, err: (err as Error).message },
        'the new TLS certificate or key does not load; the current one keeps serving',
      );
      return false;
    }
    if (next.cert.equals(current.cert) && next.key.equals(current.key)) return false;
    current = next;
    server?.setSecureContext(next);
    log.info({ certFile: files.certFile }, 'TLS certificate reloaded');
    return true;
  };
  const soon = () => {
    clearTimeout(debounce);
    debounce = setTimeout(reload, 200);
    debounce.unref();
  };
  // Kubernetes swaps a Secret volume by renaming a symlinked directory, which a file watch can
  // miss: watch the directories and also poll.
  for (const dir of new Set([dirname(files.certFile), dirname(files.keyFile)])) {
    try {
      const w = watch(dir, soon);
      w.unref();
      watchers.push(w);
    } catch {
      // polling alone still reloads
    }
  }
  poll = setInterval(reload, pollMs);
  poll.unref();

  return {
    serverFactory(handler) {
      server = createServer({ ...current, ServerResponse: EndingResponse }, handler);
      return server;
    },
    reload,
    close() {
      clearInterval(poll);
      clearTimeout(debounce);
      poll = undefined;
      for (const w of watchers) w.close();
    },
  };
}
