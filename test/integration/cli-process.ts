// Starts `portcullis <args>` as a real child process for integration tests, and kills whatever is
// still running when the test file ends.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after } from 'node:test';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';

const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const CLI = join(REPO_ROOT, 'bin/portcullis.js');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

export interface CliProcess {
  child: ChildProcess;
  /** The URL the process says it listens on (stdout or stderr); rejects if it exits first or stays silent for 60 s. */
  url: Promise<string>;
  exited: Promise<number | null>;
  /** Everything it wrote so far, both streams in arrival order. */
  output: () => string;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawn(NODE, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  const collect = (c: Buffer) => {
    output += c;
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL from ${args[0]}: ${output}`)), 60_000);
    const look = () => {
      const m = /listening on (https?:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited ${code}: ${output}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, url, exited, output: () => output };
}
