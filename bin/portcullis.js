#!/usr/bin/env node
// The CLI is TypeScript run by Node's built-in type stripping (Node 24, pinned via the `node` package).
import { main } from '../src/cli/main.ts';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`portcullis: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
