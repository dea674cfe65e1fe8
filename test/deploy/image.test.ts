// Builds the container image from the real Dockerfile with buildah (deploy/image/build-local.sh, which
// assembles the two base images from registry packages because no container registry is reachable
// here), then checks its configuration and runs it: as uid 10001, with OPA present for git mode, the
// gateway serving /healthz and /readyz on a loopback port. Runs where buildah and debootstrap are
// installed and the process is root; `PORTCULLIS_IMAGE_TEST=0` skips it (the build takes minutes).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';

const BUILDAH = ['--storage-driver', 'vfs'];
// PORTCULLIS_IMAGE_PREBUILT=<tag> checks an image built before instead of building one.
const TAG = process.env.PORTCULLIS_IMAGE_PREBUILT || 'localhost/portcullis:test';
const why = (() => {
  if (process.env.PORTCULLIS_IMAGE_TEST === '0') return 'PORTCULLIS_IMAGE_TEST=0';
  if (process.getuid?.() !== 0) return 'building the image needs root';
  for (const tool of ['buildah', 'debootstrap']) {
    if (spawnSync(tool, ['--version']).error)
      return `${tool} is not installed (apt-get install buildah debootstrap)`;
  }
  return undefined;
})();

/** Process ids below `pid`, from /proc. */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) children.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    return [];
  }
  children = children.flatMap((c) => [...descendants(c), c]);
  return children;
}

function buildah(...args: string[]) {
  return spawnSync('buildah', [...BUILDAH, ...args], { encoding: 'utf8' });
}

test('the Dockerfile builds; the image runs the gateway as a non-root user', {
  skip: why,
  timeout: 40 * 60_000,
}, async () => {
  if (!process.env.PORTCULLIS_IMAGE_PREBUILT) {
    // Niced: the build is long and CPU-bound, and the rest of the suite runs beside it.
    const build = spawnSync('nice', ['-n', '10', join(REPO_ROOT, 'deploy/image/build-local.sh'), TAG], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(build.status, 0, build.stderr.slice(-4000));
  }

  const config = JSON.parse(buildah('inspect', '--type', 'image', TAG).stdout) as {
    Docker: { config: Record<string, unknown> };
  };
  const c = config.Docker.config as {
    User: string;
    Healthcheck?: { Test: string[] };
    Labels: Record<string, string>;
    Volumes: Record<string, unknown>;
    ExposedPorts: Record<string, unknown>;
    Entrypoint: string[];
  };
  assert.equal(c.User, '10001:10001');
  assert.match(c.Healthcheck?.Test.join(' ') ?? '', /PORTCULLIS_HEALTHCHECK_URL/);
  assert.equal(c.Labels['org.opencontainers.image.title'], 'portcullis');
  assert.match(c.Labels['org.opencontainers.image.revision'] ?? '', /^[0-9a-f]{40}$|^unknown$/);
  assert.deepEqual(Object.keys(c.Volumes), ['/data']);
  assert.ok('8080/tcp' in c.ExposedPorts);
  assert.deepEqual(c.Entrypoint, ['tini', '--', 'node', '/app/bin/portcullis.js']);

  const ctr = buildah('from', TAG).stdout.trim();
  try {
    const run = (...cmd: string[]) =>
      buildah('run', '--isolation', 'chroot', '--user', '10001:10001', ctr, '--', ...cmd);
    assert.match(run('id', '-u').stdout, /^10001$/m);
    assert.match(run('opa', 'version').stdout, /Version: 1\.22\.2/);
    assert.equal(run('node', '/app/bin/portcullis.js', 'policy', 'validate', '/app/policies').status, 0);
    // The root file system is not the gateway's to write: only /data is owned by it.
    assert.notEqual(run('touch', '/app/x').status, 0);

    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = spawn(
      'buildah',
      [
        ...BUILDAH,
        'run',
        '--isolation',
        'chroot',
        '--user',
        '10001:10001',
        ctr,
        '--',
        'node',
        '/app/bin/portcullis.js',
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--data-dir',
        '/data',
        '--policy',
        '/app/policies',
      ],
      { stdio: 'ignore' },
    );
    try {
      const deadline = Date.now() + 60_000;
      let health = 0;
      while (Date.now() < deadline && health !== 200) {
        await new Promise((r) => setTimeout(r, 500));
        health = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.status,
          () => 0,
        );
      }
      assert.equal(health, 200);
      assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
    } finally {
      // buildah run may not forward the signal: stop the gateway it started, by process id.
      for (const pid of [...descendants(server.pid!), server.pid!]) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {}
      }
    }
  } finally {
    buildah('rm', ctr);
  }
});
