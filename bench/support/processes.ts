// What a benchmark reads of the processes it started, from Linux /proc.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A process and its descendants (a `serve --workers N` primary and its workers). */
export function processTree(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {}
  return [pid, ...kids.flatMap((k) => processTree(k))];
}

/** Resident set (VmRSS) of each process of the tree, in MB. */
export function residentMb(child: ChildProcess): number[] {
  return processTree(child.pid).map((pid) => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : 0;
    } catch {
      return 0;
    }
  });
}

/**
 * CPU seconds a child has used: its whole tree, all threads; or (`mainThread`) only each process's
 * event loop; or (`onlyTop`) only the child itself. Undefined when /proc cannot be read.
 */
export function cpuSeconds(child: ChildProcess, mainThread = false, onlyTop = false): number | undefined {
  let total = 0;
  for (const pid of onlyTop ? [child.pid] : processTree(child.pid)) {
    const stat = mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`;
    try {
      const fields = readFileSync(stat, 'utf8').split(') ')[1].split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return undefined;
    }
  }
  return total;
}
