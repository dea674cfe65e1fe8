// Graceful shutdown on SIGTERM/SIGINT: stop accepting (readiness and new requests answer 503, the
// listener closes), let calls in flight — streams included — finish for up to `drainMs`, then cut
// what is left, and only then close the stores so every finished call's audit record is flushed.
import type { Server } from 'node:http';
import type { Logger } from 'pino';

export interface Drainable {
  server: Pick<Server, 'closeAllConnections'>;
  /** Stops the listener and resolves when calls in flight are done; flushes audit and stores last. */
  close(): Promise<void>;
  log: Logger;
}

export const DEFAULT_DRAIN_SECONDS = 30;

/** Resolves when shutdown is complete; calls in flight past `drainMs` are cut. */
export async function drain(target: Drainable, drainMs: number, signal: string): Promise<void> {
  const started = Date.now();
  target.log.info(
    { signal, drainSeconds: drainMs / 1000 },
    'shutting down: no new calls, finishing calls in flight',
  );
  let cut = false;
  const force = setTimeout(() => {
    cut = true;
    target.log.warn(
      { drainSeconds: drainMs / 1000 },
      'drain bound reached: cutting the calls still in flight',
    );
    target.server.closeAllConnections();
  }, drainMs);
  force.unref();
  try {
    await target.close();
  } finally {
    clearTimeout(force);
  }
  target.log.info({ ms: Date.now() - started, cut }, 'shut down');
}
