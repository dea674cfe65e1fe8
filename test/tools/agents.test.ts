// Conformance with the real agents: request bodies captured from Claude Code, Codex and Gemini CLI
// (`npm run agents:capture`, test/fixtures/agents/<agent>-<version>/). Every tool they declare is
// seen, the example read-only scope strips every tool that could write or run a command, and every
// text in them is scanned.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { compileChain, scanRequest } from '../../src/guardrails/index.ts';
import type { Surface } from '../../src/policy/decision.ts';
import { unrecognisedShapes } from '../../src/tools/conformance/shapes.ts';
import {
  callDenied,
  createToolCallWatcher,
  declaredTools,
  findDeniedToolCalls,
  findTools,
  stripToolsReport,
  toolNames,
} from '../../src/tools/index.ts';

const ROOT = 'test/fixtures/agents';

interface Fixture {
  dir: string;
  file: string;
  agent: string;
  surface: Surface;
  body: Record<string, unknown>;
}

const fixtures: Fixture[] = readdirSync(ROOT).flatMap((dir) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.json'))
    .map((file) => {
      const c = JSON.parse(readFileSync(join(ROOT, dir, file), 'utf8'));
      return { dir, file, agent: c.agent, surface: c.surface, body: c.body };
    }),
);

const readOnly = parse(readFileSync('policies/scopes/read-only.yaml', 'utf8')).spec.agentTools
  .deny as string[];
const denied = (name: string) => readOnly.includes(name);

test('fixtures of every agent are there', () => {
  const agents = new Set(fixtures.map((f) => f.agent));
  assert.deepEqual([...agents].sort(), ['claude-code', 'codex', 'gemini-cli']);
});

describe('request shapes are all recognised', () => {
  for (const f of fixtures) {
    test(`${f.dir}/${f.file}`, () => {
      const shapes = unrecognisedShapes(f.surface, f.body).filter((s) => !s.includes('may grant tools'));
      assert.deepEqual(shapes, []);
    });
  }
});

describe('tools seen where each agent declares them', () => {
  const expected: Record<string, string[]> = {
    'claude-code': ['Bash', 'Read', 'Edit', 'Write'],
    codex: ['exec', 'wait', 'exec_command', 'apply_patch', 'write_stdin', 'spawn_agent'],
    // Headless (`-p`), Gemini CLI offers only tools that read.
    'gemini-cli': ['list_directory', 'read_file', 'grep_search', 'glob'],
  };
  for (const f of fixtures.filter((x) => findTools(x.surface, x.body).tools.length > 0)) {
    test(`${f.dir}/${f.file}`, () => {
      const names = declaredTools(f.surface, f.body);
      for (const n of expected[f.agent]) assert.ok(names.includes(n), `${n} not seen in ${names.join(', ')}`);
      assert.deepEqual(findTools(f.surface, f.body).unreadable, []);
    });
  }
});

describe('the read-only scope strips every tool that writes or runs commands', () => {
  for (const f of fixtures.filter((x) => findTools(x.surface, x.body).tools.length > 0)) {
    test(`${f.dir}/${f.file}`, () => {
      // As tools.rego does: every declared name the scope denies is stripped.
      const strip = declaredTools(f.surface, f.body).filter(denied);
      if (f.agent !== 'gemini-cli') assert.ok(strip.length > 0, 'the agent declares tools the scope denies');
      const { body, removed } = stripToolsReport(f.surface, f.body, strip);
      const left = findTools(f.surface, body).tools;
      for (const t of left)
        assert.deepEqual(
          toolNames(t).filter(denied),
          [],
          `${t.name} at ${t.path} still offers a denied tool`,
        );
      assert.ok(left.length > 0, 'read-only tools stay');
      if (f.agent === 'codex')
        assert.ok(removed.includes('exec'), 'the code-mode exec tool goes with the tools its code can call');
      assert.deepEqual(findTools(f.surface, body).unreadable, []);
    });
  }
});

describe('a read-only key cannot run a shell command through any Codex tool path', () => {
  const codex = fixtures.filter((f) => f.agent === 'codex');
  for (const f of codex) {
    test(`${f.dir}/${f.file}`, () => {
      const strip = declaredTools(f.surface, f.body).filter(denied);
      const { body, removed } = stripToolsReport(f.surface, f.body, strip);
      const offered = JSON.stringify(findTools(f.surface, body).tools.flatMap(toolNames));
      for (const path of ['exec', 'exec_command', 'apply_patch', 'shell', 'local_shell'])
        assert.ok(!JSON.parse(offered).includes(path), `${path} still offered`);
      const isDenied = callDenied(findTools(f.surface, f.body), removed, denied);
      // The model calls a shell path anyway (from earlier context, or made up): every one is refused,
      // in a complete answer and as the stream names it.
      const calls: unknown[] = [
        {
          type: 'custom_tool_call',
          call_id: 'c1',
          name: 'exec',
          input: 'await tools.exec_command({cmd: "rm -rf /"})',
        },
        { type: 'function_call', call_id: 'c2', name: 'exec', arguments: '{"command":"ls"}' },
        { type: 'function_call', call_id: 'c3', name: 'exec_command', arguments: '{"cmd":"ls"}' },
        { type: 'custom_tool_call', call_id: 'c4', name: 'apply_patch', input: '*** Begin Patch' },
        { type: 'local_shell_call', call_id: 'c5', action: { type: 'exec', command: ['ls'] } },
        { type: 'shell_call', call_id: 'c6', action: { commands: ['ls'] } },
      ];
      for (const item of calls) {
        assert.equal(
          findDeniedToolCalls('openai.responses', { output: [item] }, isDenied).length,
          1,
          JSON.stringify(item),
        );
        const watcher = createToolCallWatcher('openai.responses', isDenied);
        assert.ok(
          watcher.push({ data: { type: 'response.output_item.added', output_index: 0, item } }),
          JSON.stringify(item),
        );
      }
      assert.equal(
        findDeniedToolCalls(
          'openai.responses',
          { output: [{ type: 'function_call', name: 'wait', arguments: '{}' }] },
          isDenied,
        ).length,
        0,
      );
    });
  }
});

describe('every text the agents send is scanned', () => {
  const chain = compileChain(
    {
      apiVersion: 'portcullis.dev/v1',
      kind: 'GuardrailChain',
      metadata: { name: 'agents' },
      spec: { steps: [{ detector: 'secrets', action: 'block' }] },
    },
    { cache: false, fingerprintSalt: 'agents-test-salt-0123456789abcdef' },
  );
  // Fields whose values are signed or encrypted by the provider, or binary media: never scanned.
  const OPAQUE = /(?:^|\.)(?:signature|encrypted_content|thoughtSignature|thought_signature)$/;
  for (const f of fixtures) {
    test(`${f.dir}/${f.file}`, async () => {
      // A fresh credential appended to every string: each must be found where it was put.
      const body = structuredClone(f.body);
      const planted: string[] = [];
      let n = 0;
      const plant = (v: unknown, path: string): unknown => {
        if (typeof v === 'string') {
          if (OPAQUE.test(path)) return v;
          planted.push(path);
          const token = `ghp_${String(n++).padStart(4, '0')}${'aB3dE5fG7hJ9kL2mN4pQ6rS8tV0wX1yZ'}`;
          return `${v} ${token}`;
        }
        if (Array.isArray(v)) return v.map((x, i) => plant(x, `${path}[${i}]`));
        if (v && typeof v === 'object')
          return Object.fromEntries(
            Object.entries(v).map(([k, x]) => [
              k,
              plant(
                x,
                path ? (/^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`) : k,
              ),
            ]),
          );
        return v;
      };
      const planted_ = plant(body, '') as Record<string, unknown>;
      const { findings } = await scanRequest(chain, f.surface, planted_);
      const seen = new Set(findings.map((x) => x.path));
      const missed = planted.filter(
        (p) => !seen.has(p) && ![...seen].some((s) => s.startsWith(`${p}.`) || s.startsWith(`${p}[`)),
      );
      assert.deepEqual(missed, [], `${missed.length} of ${planted.length} texts not scanned`);
    });
  }
});
