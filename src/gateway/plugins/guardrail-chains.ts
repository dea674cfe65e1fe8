// The key's guardrail chain, compiled once per snapshot, and what the guardrail parts share about its
// findings.
import {
  type CompiledChain,
  compileChain,
  type ScanFinding,
  type ScanResult,
} from '../../guardrails/index.ts';
import type { GuardrailFinding } from '../../policy/decision.ts';
import type { ResolvedKey, Snapshot } from '../../policy/snapshot.ts';
import type { Call } from '../call.ts';
import type { PluginLogger } from './limits.ts';

const compiled = new WeakMap<Snapshot, Map<string, CompiledChain | null>>();

/** The snapshot's chain of that name, compiled on first use and kept as long as the snapshot lives. */
export function chainOf(snapshot: Snapshot, name: string | undefined): CompiledChain | undefined {
  if (name === undefined) return undefined;
  let chains = compiled.get(snapshot);
  if (chains === undefined) {
    chains = new Map();
    compiled.set(snapshot, chains);
  }
  let chain = chains.get(name);
  if (chain === undefined) {
    const doc = snapshot.documents.get('GuardrailChain')?.get(name);
    // The policy plane compiled every chain already (build-snapshot's checkPolicy); this cannot throw
    // for a snapshot that was built, and the shared ScanCache is kept across snapshots.
    chain = doc === undefined ? null : compileChain(doc);
    chains.set(name, chain);
  }
  return chain ?? undefined;
}

/** The chain a call runs under: its key's effective chain, or the gateway default for keyless calls. */
export function chainFor(snapshot: Snapshot, key: ResolvedKey | null): CompiledChain | undefined {
  return chainOf(snapshot, key === null ? snapshot.gateway.defaultGuardrailChain : key.guardrailChain);
}

export function hasStage(chain: CompiledChain | undefined, stage: 'request' | 'response'): boolean {
  return chain?.steps.some((s) => s.stages.has(stage)) === true;
}

/** The policy's view of a finding: where and what, without offsets. */
export function policyFinding(f: ScanFinding): GuardrailFinding {
  const { start: _s, end: _e, ...rest } = f;
  return rest;
}

export function logErrors(log: PluginLogger, ctx: Call, errors: ScanResult['errors']): void {
  for (const e of errors) {
    log.warn({ reqId: ctx.id, step: e.step, detector: e.detector, err: e.message }, 'guardrail step failed');
  }
}
