// A lock file for one tool build at a time, held by a process id: a lock whose process is gone (a
// build killed half-way) is taken over rather than waited for.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock at `path` taken for this process (call the result to release it), or undefined if another live process holds it. */
export function acquireBuildLock(path: string): (() => void) | undefined {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = Number.NaN;
    try {
      holder = Number(readFileSync(path, 'utf8').trim());
    } catch {}
    if (Number.isInteger(holder) && holder > 0 && alive(holder)) return undefined;
    rmSync(path, { force: true });
  }
  return undefined;
}

/** Waits until the lock at `path` can be taken, telling `onWait` the seconds waited every 15 s. */
export async function waitForBuildLock(path: string, onWait: (seconds: number) => void): Promise<() => void> {
  const started = Date.now();
  let told = started;
  for (;;) {
    const release = acquireBuildLock(path);
    if (release !== undefined) return release;
    await sleep(500);
    if (Date.now() - told >= 15_000) {
      told = Date.now();
      onWait(Math.round((told - started) / 1000));
    }
  }
}
