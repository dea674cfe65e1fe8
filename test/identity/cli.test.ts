// The CLI commands that need no IdP: `keys rotate` (a static key's new hash into the YAML),
// `agent-config` (managed settings), and `run` (the agent started with the saved key), plus the
// clear answers when nobody is signed in.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { hashVirtualKey } from '../../src/cli/keys.ts';
import { checkPolicy } from '../../src/policy/build-snapshot.ts';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';
import { policyCopy } from '../policy/helpers.ts';

const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const CLI = join(REPO_ROOT, 'bin/portcullis.js');

function cli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = REPO_ROOT) {
  const r = spawnSync(NODE, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, cwd });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking this process (a server in the test must answer the CLI). */
function cliAsync(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(NODE, [CLI, ...args], { env: { ...process.env, ...env }, cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('portcullis keys rotate', () => {
  test('writes the new key’s hash in place of the old one, keeps the file as written, prints the key once', () => {
    const dir = policyCopy();
    const file = join(dir, 'keys', 'app-dev.yaml');
    const before = readFileSync(file, 'utf8');
    const r = cli(['keys', 'rotate', 'bob-dev', '--dir', dir]);
    assert.equal(r.status, 0, r.stderr);
    const key = r.stdout.trim();
    assert.match(key, /^pcl_[A-Za-z0-9_-]{43}$/);
    const after = readFileSync(file, 'utf8');
    assert.ok(after.includes(`keyHash: sha256:${hashVirtualKey(key)}`));
    assert.ok(!after.includes('fa0a6d67f17f61c599586e7deddd3588ee99d9148dd292180a0455b029812c38'));
    // Only that one line changed: comments, carol-dev and the layout stay.
    const diff = before.split('\n').filter((line, i) => line !== after.split('\n')[i]);
    assert.equal(diff.length, 1);
    assert.match(r.stderr, /open a pull request/);
    assert.deepEqual(checkPolicy(dir).problems, []);
  });

  test('an unknown key name is an error naming it', () => {
    const r = cli(['keys', 'rotate', 'nobody', '--dir', policyCopy()]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no VirtualKey named 'nobody'/);
  });
});

describe('portcullis agent-config', () => {
  test('writes managed settings for the three agents with the gateway and the key helper', () => {
    const out = mkdtempSync(join(tmpdir(), 'portcullis-agent-config-'));
    const r = cli(['agent-config', '--gateway', 'https://portcullis.acme.example/', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const claude = JSON.parse(readFileSync(join(out, 'etc/claude-code/managed-settings.json'), 'utf8'));
    assert.equal(claude.apiKeyHelper, 'portcullis token --gateway https://portcullis.acme.example');
    assert.equal(claude.env.ANTHROPIC_BASE_URL, 'https://portcullis.acme.example');
    assert.equal(claude.env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, '1');
    const codex = readFileSync(join(out, 'etc/codex/managed_config.toml'), 'utf8');
    assert.match(codex, /^model_provider = "portcullis"$/m);
    assert.match(codex, /^base_url = "https:\/\/portcullis\.acme\.example\/v1"$/m);
    assert.match(
      codex,
      /\[model_providers\.portcullis\.auth\]\ncommand = "portcullis"\nargs = \["token", "--gateway", "https:\/\/portcullis\.acme\.example"\]/,
    );
    assert.match(codex, /\[analytics\]\nenabled = false/);
    const gemini = JSON.parse(readFileSync(join(out, 'etc/gemini-cli/settings.json'), 'utf8'));
    assert.equal(gemini.security.auth.enforcedType, 'gemini-api-key');
    assert.equal(gemini.telemetry.enabled, false);
    assert.equal(gemini.privacy.usageStatisticsEnabled, false);
    const profile = readFileSync(join(out, 'etc/profile.d/portcullis-gemini.sh'), 'utf8');
    const sh = spawnSync('sh', ['-n'], { input: profile });
    assert.equal(sh.status, 0, 'the profile script parses');
  });
});

describe('portcullis run, token', () => {
  const signedIn = (gateway: string, expiresAt: string) => {
    const config = mkdtempSync(join(tmpdir(), 'portcullis-cli-config-'));
    writeFileSync(
      join(config, 'credentials.json'),
      JSON.stringify({
        current: gateway,
        gateways: {
          [gateway]: {
            gateway,
            idp: 'acme-sso',
            issuer: 'http://127.0.0.1:9',
            clientId: 'portcullis-cli',
            scopes: ['openid'],
            personalKey: 'pcp_saved',
            keyId: 'pk_1',
            expiresAt,
            subject: 'dana',
            team: 'app-dev',
            groups: ['app-developers'],
            roles: [],
          },
        },
      }),
    );
    return config;
  };

  test('run starts the agent with the gateway, the saved key and the agent’s arguments', async () => {
    // The gateway, as far as run asks it: is the saved key still good?
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.url} ${req.headers.authorization}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    after(() => server.close());
    const gateway = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const config = signedIn(gateway, new Date(Date.now() + 3_600_000).toISOString());
    const bin = join(mkdtempSync(join(tmpdir(), 'portcullis-fake-agent-')), 'claude');
    writeFileSync(
      bin,
      '#!/bin/sh\necho "$ANTHROPIC_BASE_URL|$ANTHROPIC_AUTH_TOKEN|$DISABLE_TELEMETRY|$*"\nexit 7\n',
    );
    chmodSync(bin, 0o755);
    const r = await cliAsync(['run', 'claude', '--bin', bin, '--', '-p', 'hello there'], {
      PORTCULLIS_CONFIG_DIR: config,
    });
    assert.equal(r.status, 7, `the agent’s exit code is passed on: ${r.stderr}`);
    assert.deepEqual(seen, ['/identity/whoami Bearer pcp_saved']);
    assert.equal(r.stdout.trim(), `${gateway}|pcp_saved|1|-p hello there`);

    const gemini = join(mkdtempSync(join(tmpdir(), 'portcullis-fake-agent-')), 'gemini');
    writeFileSync(
      gemini,
      '#!/bin/sh\necho "$GOOGLE_GEMINI_BASE_URL|$GEMINI_API_KEY|$GEMINI_CLI_SYSTEM_DEFAULTS_PATH"\n',
    );
    chmodSync(gemini, 0o755);
    const g = await cliAsync(['run', 'gemini', '--bin', gemini], { PORTCULLIS_CONFIG_DIR: config });
    const [, key, defaults] = g.stdout.trim().split('|');
    assert.equal(key, 'pcp_saved');
    assert.equal(JSON.parse(readFileSync(defaults, 'utf8')).security.auth.selectedType, 'gemini-api-key');
    assert.equal(cli(['token'], { PORTCULLIS_CONFIG_DIR: config }).stdout.trim(), 'pcp_saved');
  });

  test('token: not signed in, or an expired key that cannot be refreshed, says to sign in', () => {
    const empty = mkdtempSync(join(tmpdir(), 'portcullis-cli-config-'));
    mkdirSync(empty, { recursive: true });
    const r = cli(['token', '--gateway', 'http://127.0.0.1:1'], { PORTCULLIS_CONFIG_DIR: empty });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not signed in to http:\/\/127\.0\.0\.1:1; run portcullis login/);
    const expired = signedIn('http://127.0.0.1:1', new Date(Date.now() - 1000).toISOString());
    const e = cli(['token'], { PORTCULLIS_CONFIG_DIR: expired });
    assert.equal(e.status, 1);
    assert.match(e.stderr, /expired and there is no refresh token; run portcullis login/);
  });

  test('run with an unknown agent prints the usage', () => {
    const r = cli(['run', 'vim']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown agent 'vim': claude, codex or gemini/);
  });
});
