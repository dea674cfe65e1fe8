// How to run this CLI again, for commands we print: `portcullis` when that name on PATH is this very
// program (a global install), otherwise the absolute path of bin/portcullis.js run with node.
import { realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));

function realpath(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

export function selfCommand(env: NodeJS.ProcessEnv = process.env): string {
  const me = realpath(BIN);
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && me !== undefined && realpath(join(dir, 'portcullis')) === me) return 'portcullis';
  }
  return `node ${BIN}`;
}
