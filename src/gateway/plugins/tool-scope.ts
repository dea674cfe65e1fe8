// Which agent-native tools a call may not use, for refusing a model that calls one anyway: the tools
// the decision stripped from the request, plus every name the key's tool scope denies (a model may
// call a tool the request never declared, from earlier context or by hallucination).
import type { Snapshot } from '../../policy/snapshot.ts';
import { callDenied, isToolSurface } from '../../tools/index.ts';
import type { Call } from '../call.ts';
import { globMatch } from '../models.ts';

interface AgentTools {
  allow?: string[];
  deny?: string[];
}

export type DeniedTools = (name: string) => boolean;

const byScope = new WeakMap<Snapshot, Map<string, DeniedTools | null>>();

/** The scope's verdict as tools.rego reaches it: denied by a deny pattern, or not matched by an allow list. */
function scopePredicate(tools: AgentTools): DeniedTools | null {
  const deny = tools.deny ?? [];
  const allow = tools.allow;
  if (deny.length === 0 && allow === undefined) return null;
  return (name) =>
    deny.some((p) => globMatch(p, name)) || (allow !== undefined && !allow.some((p) => globMatch(p, name)));
}

function scopeDenies(snapshot: Snapshot, scope: string): DeniedTools | null {
  let cache = byScope.get(snapshot);
  if (cache === undefined) {
    cache = new Map();
    byScope.set(snapshot, cache);
  }
  let pred = cache.get(scope);
  if (pred === undefined) {
    const spec = snapshot.documents.get('ToolScope')?.get(scope)?.spec as
      | { agentTools?: AgentTools }
      | undefined;
    pred = spec?.agentTools ? scopePredicate(spec.agentTools) : null;
    cache.set(scope, pred);
  }
  return pred;
}

/** The denied-tool predicate for an allowed call, or undefined when nothing is denied (no watching needed). */
export function deniedToolsFor(call: Call): DeniedTools | undefined {
  if (!isToolSurface(call.surface)) return undefined;
  const stripped = [...(call.decision?.stripTools ?? []), ...call.strippedTools];
  const scope = call.key?.toolScope;
  const byPolicy = scope === undefined ? null : scopeDenies(call.snapshot, scope);
  if (stripped.length === 0 && byPolicy === null) return undefined;
  const base: DeniedTools =
    byPolicy === null
      ? (name) => stripped.includes(name)
      : (name) => stripped.includes(name) || byPolicy(name);
  // A code-mode tool the request declared is denied when its code could call a denied tool.
  return call.toolDeclarations === null ? base : callDenied(call.toolDeclarations, stripped, base);
}

/** What the request did with a tool the model called, for a refusal message that says only what is true. */
export function offeredOf(call: Call, name: string): 'removed' | 'undeclared' | undefined {
  if (call.strippedTools.includes(name)) return 'removed';
  const declared = call.toolDeclarations?.tools.some((t) => t.name === name || t.aliases?.includes(name));
  return declared ? undefined : 'undeclared';
}
