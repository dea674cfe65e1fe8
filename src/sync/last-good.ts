// `<dataDir>/last-good.json` remembers the last revision that was activated, so a restart with the
// remote down can serve it from the local clone.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ActiveInfo } from './types.ts';

export function lastGoodPath(dataDir: string): string {
  return join(dataDir, 'last-good.json');
}

export function readLastGood(dataDir: string): ActiveInfo | undefined {
  try {
    const value = JSON.parse(readFileSync(lastGoodPath(dataDir), 'utf8')) as ActiveInfo;
    return typeof value?.revision === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

export function writeLastGood(dataDir: string, info: ActiveInfo): void {
  const file = lastGoodPath(dataDir);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`);
  renameSync(tmp, file);
}
