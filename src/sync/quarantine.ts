// `<dataDir>/quarantine.json`: revisions whose decision ran away while serving. A restart (or a
// replica sharing the data directory) does not activate them again, even with one at the source's head.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

type Quarantine = Record<string, { at: string; why: string }>;

const fileOf = (dataDir: string) => join(dataDir, 'quarantine.json');

function read(dataDir: string): Quarantine {
  try {
    const value = JSON.parse(readFileSync(fileOf(dataDir), 'utf8')) as Quarantine;
    return typeof value === 'object' && value !== null ? value : {};
  } catch {
    return {};
  }
}

/** Why `revision` was quarantined, or undefined. */
export function isQuarantined(dataDir: string, revision: string): string | undefined {
  return read(dataDir)[revision]?.why;
}

export function quarantine(dataDir: string, revision: string, why: string): void {
  const all = read(dataDir);
  all[revision] = { at: new Date().toISOString(), why };
  const file = fileOf(dataDir);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`);
  renameSync(tmp, file);
}
