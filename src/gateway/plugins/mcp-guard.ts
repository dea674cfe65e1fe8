import type { McpGuard } from '../../mcp/index.ts';
import type { Snapshot } from '../../policy/snapshot.ts';
import { chainFor } from './guardrail-chains.ts';

/**
 * The MCP gateway's guard: the key's chain over tool arguments (request) and results (response) as
 * text. A finding whose step asks to block refuses the call; redaction is not possible there, so
 * redact and log findings only pass.
 */
export function createMcpGuard(getSnapshot: () => Snapshot | undefined): McpGuard {
  return async (stage, text, context) => {
    const snapshot = getSnapshot();
    if (snapshot === undefined || text === '') return { blocked: false };
    const chain = chainFor(snapshot, snapshot.keys.get(context.keyId) ?? null);
    if (chain === undefined) return { blocked: false };
    for (const step of chain.steps) {
      if (step.action !== 'block' || step.text === undefined || !step.stages.has(stage)) continue;
      const hit = step.text.scan(text)[0];
      if (hit !== undefined) {
        const where = stage === 'request' ? 'the tool arguments' : 'the tool result';
        return {
          blocked: true,
          reason: `guardrail chain ${chain.name} found ${hit.rule} (${hit.type}) in ${where}`,
        };
      }
    }
    return { blocked: false };
  };
}
