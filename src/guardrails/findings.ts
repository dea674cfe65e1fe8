// Building findings: what the policy sees about a hit (kind and location, never the text).
import type { CompiledChain, CompiledStep } from './compile.ts';
import type { Match, ScanFinding, Stage } from './types.ts';

/** A finding for match `m` of `step` at `path`. */
export function finding(
  chain: CompiledChain,
  step: CompiledStep,
  stage: Stage,
  path: string,
  m: Match,
): ScanFinding {
  return {
    rule: m.rule,
    type: m.type,
    stage,
    path,
    action: step.action,
    fingerprint: m.fingerprint,
    chain: chain.name,
    step: step.index,
    start: m.start,
    end: m.end,
  };
}

const NONE: ScanFinding[] = Object.freeze([]) as unknown as ScanFinding[];

/** Findings of a size step for `bytes` of text (tokens estimated as ceil(bytes / 4)). */
export function sizeFindings(
  chain: CompiledChain,
  step: CompiledStep,
  stage: Stage,
  bytes: number,
): ScanFinding[] {
  const { maxBytes, maxTokens } = step.size!;
  const over =
    (maxBytes !== undefined && bytes > maxBytes) ||
    (maxTokens !== undefined && Math.ceil(bytes / 4) > maxTokens);
  if (!over) return NONE;
  const out: ScanFinding[] = [];
  const add = (rule: string) =>
    out.push({
      rule,
      type: 'size',
      stage,
      path: '$',
      action: step.action,
      fingerprint: chain.fingerprint(`size:${rule}`),
      chain: chain.name,
      step: step.index,
    });
  if (maxBytes !== undefined && bytes > maxBytes) add('max_bytes');
  if (maxTokens !== undefined && Math.ceil(bytes / 4) > maxTokens) add('max_tokens');
  return out;
}
