import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLE_POLICY_DIR } from '../fixtures/keys.ts';

/** A throwaway copy of the example policy to break in one way. */
export function policyCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-policy-test-'));
  cpSync(EXAMPLE_POLICY_DIR, dir, { recursive: true });
  return dir;
}

export function edit(dir: string, file: string, change: (text: string) => string): void {
  const path = join(dir, file);
  writeFileSync(path, change(readFileSync(path, 'utf8')));
}

/** 1-based line number of the first line containing `needle`. */
export function lineOf(dir: string, file: string, needle: string): number {
  const lines = readFileSync(join(dir, file), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in ${file}`);
  return i + 1;
}
