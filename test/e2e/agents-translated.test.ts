// The real agents on each other's models through the gateway and the simulator: Claude Code on a GPT
// model (Responses) and on a Gemini model, Codex and Gemini CLI on a Claude model. The simulator's answer calls the
// agent's shell tool once; the agent runs it and sends the result back, translated to the upstream's
// format. Skipped when the agents are not installed (AGENTS_DIR, default /work/agents).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RecordedRequest } from '../../src/simulator/server.ts';
import { type RealStack, startRealStack } from '../integration/stack.ts';

const BIN = join(process.env.AGENTS_DIR ?? '/work/agents', 'node_modules', '.bin');
const missing = ['claude', 'codex', 'gemini'].some((a) => !existsSync(join(BIN, a)));

/** Runs an agent with a throwaway home, no proxy and no telemetry; resolves with its output. */
function run(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(BIN, cmd), args, {
      cwd,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: cwd,
        HTTPS_PROXY: 'http://127.0.0.1:9',
        HTTP_PROXY: 'http://127.0.0.1:9',
        NO_PROXY: '127.0.0.1,localhost',
        DISABLE_TELEMETRY: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out });
    });
  });
}

function workdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-agent-'));
  writeFileSync(join(dir, 'marker.txt'), 'marker\n');
  return dir;
}

const since = (s: RealStack, n: number): RecordedRequest[] => s.sim.requests.slice(n);

describe('real agents on translated routes', {
  skip: missing ? 'agents not installed' : false,
  concurrency: false,
}, () => {
  let s: RealStack;
  before(async () => {
    s = await startRealStack({ outputTokens: 8 });
  });
  after(() => s.close());

  for (const [model, path, result] of [
    ['gpt-5', '/v1/responses', /"type":"function_call_output","call_id":"call_sim\d+","output":"marker.txt"/],
    [
      'gemini-2.5-pro',
      '/v1beta/models/gemini-2.5-pro:streamGenerateContent',
      /"functionResponse":\{"name":"Bash","response":\{"output":"marker.txt"\}\}/,
    ],
  ] as const) {
    test(`Claude Code on ${model}: the Bash call round-trips`, async () => {
      const n = s.sim.requests.length;
      const r = await run(
        'claude',
        ['-p', 'list the files', '--model', model, '--allowedTools', 'Bash'],
        {
          ANTHROPIC_BASE_URL: s.url,
          ANTHROPIC_AUTH_TOKEN: s.keys.principal,
          ANTHROPIC_CUSTOM_HEADERS: 'x-sim-tool-call: Bash;once',
        },
        workdir(),
      );
      assert.equal(r.code, 0, r.out);
      const calls = since(s, n).filter((q) => q.path === path);
      assert.equal(
        calls.length,
        2,
        `two calls to ${path}: ${since(s, n)
          .map((q) => q.path)
          .join(', ')}`,
      );
      assert.match(JSON.stringify(calls[1].body), result);
    });
  }

  test('Codex on claude-sonnet-4-5: exec_command round-trips through Anthropic Messages', async () => {
    const home = workdir();
    mkdirSync(join(home, '.codex'));
    writeFileSync(
      join(home, '.codex', 'config.toml'),
      `model = "claude-sonnet-4-5"
model_provider = "portcullis"
[model_providers.portcullis]
name = "Portcullis"
base_url = "${s.url}/v1"
env_key = "PORTCULLIS_API_KEY"
wire_api = "responses"
http_headers = { "x-sim-tool-call" = "exec_command;once", "x-sim-tool-args" = "%7B%22cmd%22%3A%22ls%22%7D" }
[analytics]
enabled = false
`,
    );
    const n = s.sim.requests.length;
    const r = await run(
      'codex',
      ['exec', '--skip-git-repo-check', 'list the files'],
      { CODEX_HOME: join(home, '.codex'), PORTCULLIS_API_KEY: s.keys.principal },
      home,
    );
    assert.equal(r.code, 0, r.out);
    const calls = since(s, n).filter((q) => q.path === '/v1/messages');
    assert.equal(calls.length, 2, r.out);
    const last = JSON.stringify(calls[1].body);
    assert.match(last, /"type":"tool_use","id":"toolu_sim\d+","name":"exec_command","input":\{"cmd":"ls"\}/);
    assert.match(last, /"type":"tool_result","tool_use_id":"toolu_sim\d+".*marker\.txt/);
  });

  test('Gemini CLI on claude-sonnet-4-5: run_shell_command round-trips through Anthropic Messages', async () => {
    const home = workdir();
    mkdirSync(join(home, '.gemini'));
    writeFileSync(
      join(home, '.gemini', 'settings.json'),
      JSON.stringify({
        security: { auth: { selectedType: 'gemini-api-key' } },
        privacy: { usageStatisticsEnabled: false },
        telemetry: { enabled: false },
      }),
    );
    const n = s.sim.requests.length;
    const r = await run(
      'gemini',
      ['-p', 'list the files', '-m', 'claude-sonnet-4-5', '--yolo'],
      {
        GOOGLE_GEMINI_BASE_URL: s.url,
        GEMINI_API_KEY: s.keys.principal,
        GEMINI_CLI_TRUST_WORKSPACE: 'true',
        GEMINI_CLI_CUSTOM_HEADERS: 'x-sim-tool-call: run_shell_command;once',
      },
      home,
    );
    assert.equal(r.code, 0, r.out);
    const calls = since(s, n).filter((q) => q.path === '/v1/messages');
    assert.equal(calls.length, 2, r.out);
    const last = JSON.stringify(calls[1].body);
    assert.match(last, /"type":"tool_use","id":"(toolu_sim\d+)","name":"run_shell_command"/);
    assert.match(last, /"type":"tool_result","tool_use_id":"toolu_sim\d+".*marker\.txt/);
  });
});
