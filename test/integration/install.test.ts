// The CLI outside this repository, as a platform team gets it: `npm pack`, `npm install -g` into a
// scratch prefix with the machine's own (older) Node first on PATH, then `portcullis init` and every
// step it prints, its MCP example through the gateway, and the `run:` steps of its CI workflow.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parse } from 'yaml';
import { ACTIONLINT, findTool, OPA, REGAL, REPO_ROOT } from '../../src/toolchain/tools.ts';

const work = mkdtempSync(join(tmpdir(), 'portcullis-install-'));
const children: ReturnType<typeof spawn>[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

const prefix = join(work, 'prefix');
const tools: NodeJS.ProcessEnv = {};
for (const [spec, name] of [
  [OPA, 'OPA_PATH'],
  [REGAL, 'REGAL_PATH'],
  [ACTIONLINT, 'ACTIONLINT_PATH'],
] as const) {
  const found = findTool(spec);
  if (found) tools[name] = found;
}
// The machine's own directories after the installed CLI: its `node` is whatever the machine has.
const env: NodeJS.ProcessEnv = {
  ...process.env,
  ...tools,
  PATH: [join(prefix, 'bin'), '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
  npm_config_prefix: prefix,
  GIT_AUTHOR_NAME: 'Platform Team',
  GIT_AUTHOR_EMAIL: 'platform@example.com',
  GIT_COMMITTER_NAME: 'Platform Team',
  GIT_COMMITTER_EMAIL: 'platform@example.com',
};
delete env.NODE_OPTIONS;

const bash = (script: string, cwd: string, extra: NodeJS.ProcessEnv = {}) =>
  spawnSync('bash', ['-euo', 'pipefail', '-c', script], { cwd, env: { ...env, ...extra }, encoding: 'utf8' });

describe('the packed CLI, installed globally', {
  skip: tools.OPA_PATH ? false : 'OPA is not installed',
}, () => {
  let tarball = '';

  test('npm pack and npm install -g give a working `portcullis`', () => {
    execFileSync('npm', ['pack', '--pack-destination', work], { cwd: REPO_ROOT, stdio: 'ignore' });
    tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz')) as string);
    const install = bash(`npm install -g --no-audit --no-fund "${tarball}"`, work);
    assert.equal(install.status, 0, install.stderr);
    const version = bash('portcullis --version', work);
    assert.equal(version.status, 0, version.stderr);
    assert.equal(
      version.stdout.trim(),
      JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version,
    );
    assert.equal(bash('portcullis polcy', work).status, 2);
  });

  test('init: every printed next step works as printed, and so does the MCP example', async () => {
    const init = bash(`portcullis init acme-policy --cli "${tarball}"`, work);
    assert.equal(init.status, 0, init.stderr);
    const steps = init.stdout
      .split('\n')
      .filter((l) => l.startsWith('  '))
      .map((l) => l.trim());
    assert.equal(steps[0], 'cd acme-policy');
    const serveStep = steps.find((s) => s.startsWith('portcullis serve'));
    assert.ok(serveStep);
    const rest = steps.filter((s) => s !== serveStep);
    const run = bash(rest.join('\n'), work);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const key = run.stdout.trim().split('\n').pop() as string;
    assert.match(key, /^pcl_/);
    const repo = join(work, 'acme-policy');
    assert.ok(!readFileSync(join(repo, '.gitignore'), 'utf8').includes('keys'));

    // The printed serve command, on a free port.
    const gw = spawn('bash', ['-c', `exec ${serveStep} --port 0 --data-dir ${join(work, 'data')}`], {
      cwd: repo,
      env: { ...env, ANTHROPIC_API_KEY: 'x', OPENAI_API_KEY: 'x', GEMINI_API_KEY: 'x' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(gw);
    let err = '';
    const url = await new Promise<string>((resolve, reject) => {
      gw.stderr.on('data', (c) => {
        err += c;
        const m = /listening on (http:\/\/\S+)/.exec(err);
        if (m) resolve(m[1]);
      });
      gw.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
    });
    const client = new Client({ name: 'install-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('docs__search_docs'), names.join(', '));
    const found = await client.callTool({
      name: 'docs__search_docs',
      arguments: { query: 'Portcullis policy' },
    });
    assert.match(JSON.stringify(found.content), /README\.md:1:/);
    await client.close();
    gw.kill('SIGTERM');
  });

  test("the workflow's run steps pass in the new repository", () => {
    const repo = join(work, 'acme-policy');
    const workflow = parse(readFileSync(join(repo, '.github/workflows/policy.yml'), 'utf8'));
    const job = workflow.jobs.check;
    assert.equal(bash('git add -A && git commit -qm "Key for my laptop"', repo).status, 0);
    const base = bash('git rev-parse HEAD~1', repo).stdout.trim();
    const summary = join(work, 'summary.md');
    for (const step of job.steps as { name?: string; run?: string; env?: Record<string, string> }[]) {
      if (!step.run) continue;
      const stepEnv = Object.fromEntries(
        Object.entries(step.env ?? {}).map(([k, v]) => [k, k === 'BASE' ? base : v]),
      );
      const r = bash(step.run, repo, { ...job.env, ...stepEnv, GITHUB_STEP_SUMMARY: summary });
      assert.equal(r.status, 0, `${step.name}: ${r.stdout}${r.stderr}`);
    }
    assert.match(readFileSync(summary, 'utf8'), /my-laptop/);
  });
});
