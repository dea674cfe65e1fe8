// Translation cost, side by side with the same call untranslated. Per non-streamed call: the request
// read and rewritten (serialisation included, which an untranslated call skips by forwarding the bytes
// it received) and the answer rewritten; per stream event: the upstream usage tracker alone versus the
// tracker plus the translator, over the same bytes. CPU time from process.cpuUsage.
//   node_modules/.bin/node bench/translate.ts [iterations]
import type { Surface } from '../src/policy/decision.ts';
import { adapters } from '../src/providers/index.ts';
import {
  type ChatSurface,
  StreamTranslator,
  translateRequest,
  translateResponse,
} from '../src/providers/translate/index.ts';
import * as anthropicSim from '../src/simulator/anthropic.ts';
import * as geminiSim from '../src/simulator/gemini.ts';
import * as openaiSim from '../src/simulator/openai.ts';
import { generateWords, pieces } from '../src/simulator/text.ts';
import type { SimCall, SimReply } from '../src/simulator/types.ts';

const ITER = Number(process.argv[2] ?? 2000);

function cpuMicros(fn: () => void, n: number): number {
  for (let i = 0; i < Math.min(200, n); i++) fn();
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const d = process.cpuUsage(start);
  return (d.user + d.system) / n;
}

const schema = {
  type: 'object',
  properties: { command: { type: 'string', description: 'The command to run' }, timeout: { type: 'number' } },
  required: ['command'],
  additionalProperties: false,
};
const PROSE = 'The handler validates the request, resolves the route and forwards the body upstream. ';

/** An Anthropic Messages request: `turns` tool round trips, `tools` declared, a system prompt of `system` chars. */
function claudeRequest(turns: number, tools: number, system: number): Record<string, unknown> {
  const messages: unknown[] = [{ role: 'user', content: [{ type: 'text', text: PROSE.repeat(3) }] }];
  for (let t = 0; t < turns; t++) {
    messages.push({
      role: 'assistant',
      content: [
        { type: 'text', text: PROSE },
        { type: 'tool_use', id: `toolu_${t}`, name: 'Bash', input: { command: `cat src/file${t}.ts` } },
      ],
    });
    messages.push({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: `toolu_${t}`, content: PROSE.repeat(20) }],
    });
  }
  return {
    model: 'claude-opus-4-8',
    max_tokens: 32000,
    stream: false,
    system: [
      {
        type: 'text',
        text: PROSE.repeat(Math.ceil(system / PROSE.length)),
        cache_control: { type: 'ephemeral' },
      },
    ],
    tools: Array.from({ length: tools }, (_, i) => ({
      name: `Tool${i}`,
      description: PROSE,
      input_schema: schema,
    })),
    messages,
  };
}

function codexRequest(turns: number): Record<string, unknown> {
  const input: unknown[] = [
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: PROSE.repeat(3) }] },
  ];
  for (let t = 0; t < turns; t++) {
    input.push({
      type: 'function_call',
      call_id: `call_${t}`,
      name: 'exec_command',
      arguments: '{"cmd":"ls"}',
    });
    input.push({ type: 'function_call_output', call_id: `call_${t}`, output: PROSE.repeat(20) });
  }
  return {
    model: 'gpt-6.2-sol',
    instructions: PROSE.repeat(100),
    input,
    tools: Array.from({ length: 10 }, (_, i) => ({
      type: 'function',
      name: `t${i}`,
      description: PROSE,
      parameters: schema,
      strict: false,
    })),
    stream: false,
  };
}

function simCall(words: number, tool: boolean): SimCall {
  const w = generateWords(7, words);
  return {
    id: 'bench1',
    created: 1_700_000_000,
    model: 'm',
    words: w,
    pieces: pieces(w, 1),
    finish: 'stop',
    inputTokens: 1000,
    cachedTokens: 200,
    body: { stream_options: { include_usage: true } },
    toolCall: tool ? { name: 'Bash', arguments: '{"command":"ls -la"}' } : undefined,
  };
}

function answer(to: ChatSurface, stream: boolean, call: SimCall): SimReply {
  if (to === 'anthropic.messages') return anthropicSim.messages(call, stream);
  if (to === 'openai.chat') return openaiSim.chat(call, stream);
  if (to === 'openai.responses') return openaiSim.responses(call, stream);
  return geminiSim.generate(call, stream, true);
}

const PAIRS: Array<[ChatSurface, ChatSurface, string]> = [
  ['anthropic.messages', 'openai.chat', 'Claude Code → Chat'],
  ['anthropic.messages', 'openai.responses', 'Claude Code → Responses'],
  ['anthropic.messages', 'gemini.generate', 'Claude Code → Gemini'],
  ['openai.responses', 'anthropic.messages', 'Codex → Anthropic'],
];

function requestFor(from: ChatSurface, size: 'small' | 'large'): Record<string, unknown> {
  if (from === 'openai.responses') return size === 'small' ? codexRequest(2) : codexRequest(40);
  return size === 'small' ? claudeRequest(2, 3, 500) : claudeRequest(40, 24, 20_000);
}

process.stdout.write(`translation CPU per call and per stream event (${ITER} iterations each)\n\n`);
process.stdout.write(
  'non-streamed call (request out + answer back, serialisation included; untranslated adds ~0):\n',
);
for (const size of ['small', 'large'] as const) {
  for (const [from, to, label] of PAIRS) {
    const body = requestFor(from, size);
    const bytes = JSON.stringify(body).length;
    const upstream = answer(to, false, simCall(60, true));
    const upstreamJson = (upstream as { body: unknown }).body;
    const us = cpuMicros(() => {
      const t = translateRequest(from, to, body, {
        clientModel: 'c',
        upstreamModel: 'u',
        stream: false,
        defaultMaxTokens: 32000,
      });
      JSON.stringify(t.body);
      JSON.stringify(translateResponse(to, from, upstreamJson, t.answer));
    }, ITER);
    // Serialising the rewritten body is most of it for long conversations: shown apart.
    const serialise = cpuMicros(() => JSON.stringify(body), ITER);
    process.stdout.write(
      `  ${size.padEnd(5)} ${label.padEnd(24)} ${(bytes / 1024).toFixed(1).padStart(6)} KB  ${us.toFixed(1).padStart(7)} µs` +
        `  (serialising a body that size alone: ${serialise.toFixed(1)} µs)\n`,
    );
  }
}

process.stdout.write('\nstream events (tracker alone vs tracker + translator, one event per chunk):\n');
for (const [from, to, label] of PAIRS) {
  const reply = answer(to, true, simCall(400, true));
  const chunks = (reply as { parts: string[] }).parts.map((p) => Buffer.from(p));
  const surface = to;
  const api = to.startsWith('anthropic') ? 'anthropic' : to.startsWith('gemini') ? 'gemini' : 'openai';
  const rounds = Math.max(20, Math.floor(ITER / 20));
  const base = cpuMicros(() => {
    const tr = adapters[api].streamTracker(surface as Surface, { hideUsageChunk: false });
    for (const c of chunks) tr.push(c);
    tr.end();
  }, rounds);
  const ctx = { model: 'c', freeformTools: new Set<string>(), streamUsage: true };
  const translated = cpuMicros(() => {
    const tr = adapters[api].streamTracker(surface as Surface, { hideUsageChunk: false });
    tr.share();
    const st = new StreamTranslator(to, from, ctx);
    for (const c of chunks) {
      tr.push(c);
      st.pushEvents(tr.take());
    }
    tr.end();
    st.pushEvents(tr.take());
    st.end();
  }, rounds);
  const per = (translated - base) / chunks.length;
  process.stdout.write(
    `  ${label.padEnd(24)} ${chunks.length} events: +${per.toFixed(2)} µs/event (tracker alone ${(base / chunks.length).toFixed(2)} µs/event)\n`,
  );
}
process.stdout.write('\ntargets: ≤ 30 µs per non-streamed call, ≤ 2 µs per stream event\n');
