// Argument checks several commands share.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { usageError } from './errors.ts';

/** The policy directory argument, which must exist: a missing one is a usage error, said plainly. */
export function policyDirArg(positionals: (string | undefined)[]): string {
  const dir = resolve(positionals[0] ?? 'policies');
  if (!existsSync(dir)) {
    throw usageError(
      `no such policy directory: ${dir}`,
      positionals[0] ? undefined : 'give the directory as an argument, e.g. `portcullis policy validate .`',
    );
  }
  if (!statSync(dir).isDirectory()) throw usageError(`${dir} is not a directory`);
  return dir;
}
