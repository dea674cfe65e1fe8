// `portcullis serve` runs with a capped V8 new space and two malloc arenas unless told otherwise
// (bin/portcullis.js, docs/workers.md): what a long-running gateway's resident set depends on.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';

const CLI = join(REPO_ROOT, 'bin/portcullis.js');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/**
 * Starts `serve` and returns the serving process's command line and environment. Not through
 * cli-process.ts: that goes through node_modules/.bin/node, whose pid is a wrapper's; here the child
 * is node itself, so its pid is the serving process's before and after it replaces itself.
 */
async function served(extraEnv: NodeJS.ProcessEnv, nodeArgs: string[] = []) {
  const { dir } = examplePolicyCopy();
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      CLI,
      'serve',
      '--policy',
      dir,
      '--port',
      '0',
      '--data-dir',
      mkdtempSync(join(tmpdir(), 'pc-rt-')),
    ],
    {
      env: { ...process.env, ...extraEnv, NODE_OPTIONS: extraEnv.NODE_OPTIONS ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stderr!.on('data', (c) => {
      out += c;
      if (/listening on/.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
  const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
  const environ = readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0');
  child.kill('SIGTERM');
  return { cmdline, arenas: environ.find((e) => e.startsWith('MALLOC_ARENA_MAX='))?.slice(17) };
}

describe('serve: runtime settings for a long-running gateway', { skip: process.platform !== 'linux' }, () => {
  test('by default: 32 MB semi-spaces and two malloc arenas, in the same process', async () => {
    const { cmdline, arenas } = await served({ MALLOC_ARENA_MAX: undefined });
    assert.ok(cmdline.includes('--max-semi-space-size=32'), cmdline.join(' '));
    assert.ok(cmdline.includes('serve'));
    assert.equal(arenas, '2');
  });

  test('settings given by the operator are kept', async () => {
    const { cmdline, arenas } = await served({
      MALLOC_ARENA_MAX: '4',
      NODE_OPTIONS: '--max-semi-space-size=64',
    });
    assert.ok(!cmdline.some((a) => a.startsWith('--max-semi-space-size')), cmdline.join(' '));
    assert.equal(arenas, '4');
    const flagged = await served({ MALLOC_ARENA_MAX: '4' }, ['--min-semi-space-size=8']);
    assert.deepEqual(
      flagged.cmdline.filter((a) => a.includes('semi-space')),
      ['--min-semi-space-size=8'],
    );
  });
});
