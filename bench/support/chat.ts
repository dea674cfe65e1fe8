// The chat completion the load benchmarks send (bench/gateway.ts, bench/memory.ts, bench/floor-parts.ts,
// and bench/guardrails.ts for the gateway's per-call scan), ~0.2 KB: one body, so their figures compare.

/** The bench's chat call; `file`, when given, is a file the agent read, sent before the question. */
export function benchChat(file?: string): string {
  return JSON.stringify({
    model: 'gpt-5-mini',
    max_completion_tokens: 64,
    messages: [
      { role: 'system', content: 'You are a helpful coding assistant.' },
      ...(file === undefined ? [] : [{ role: 'user', content: file }]),
      { role: 'user', content: 'Explain what a reverse proxy does in one paragraph.' },
    ],
  });
}
