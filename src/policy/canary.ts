// The inputs a revision must decide before it is admitted: a synthetic call per key and surface (and
// an anonymous one per surface), the same with every budget spent, and the most recent calls from
// the audit log as the new revision would see them. They exercise every rule a real call can reach,
// so a decision that is undefined, ill-formed, conflicting or slow shows before any call depends on it.
import { existsSync } from 'node:fs';
import { AuditStore } from '../audit/store.ts';
import { decisionInputFor, type ReplayRecord } from '../policyci/replay.ts';
import type { BudgetUsage, DecisionInput, Surface } from './decision.ts';
import { keyFacts } from './key-facts.ts';
import type { ProviderApi, ResolvedKey, Snapshot } from './snapshot.ts';

export interface Canary {
  /** Which call this stands for, in a rejection's reason. */
  label: string;
  input: DecisionInput;
}

const SURFACES: readonly Surface[] = [
  'openai.chat',
  'openai.responses',
  'openai.embeddings',
  'openai.models',
  'anthropic.messages',
  'anthropic.count_tokens',
  'gemini.generate',
  'gemini.count_tokens',
  'mcp.tools_list',
  'mcp.tools_call',
];

/** With many keys, a spread of them stands for all (every key's facts have the same shape). */
export const MAX_CANARY_KEYS = 200;
export const RECENT_CALLS = 200;

const apiOf = (surface: Surface): ProviderApi | undefined => {
  const api = surface.split('.')[0];
  return api === 'openai' || api === 'anthropic' || api === 'gemini' ? api : undefined;
};

const globMatch = (glob: string, value: string): boolean =>
  new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(value);

/** A provider of `api` the key may use, and a model it may ask for there (any, when none is allowed). */
function target(
  snapshot: Snapshot,
  key: ResolvedKey | null,
  api: ProviderApi,
): { provider: string; model: string } {
  const providers = [...snapshot.providers.values()].filter((p) => p.api === api);
  const usable =
    key && key.providers.length > 0 ? providers.filter((p) => key.providers.includes(p.id)) : providers;
  for (const p of usable.length > 0 ? usable : providers) {
    const models = [...p.models.keys()];
    const allowed = key ? models.find((m) => key.models.some((g) => globMatch(g, m))) : undefined;
    const model = allowed ?? models[0];
    if (model !== undefined) return { provider: p.id, model };
  }
  return { provider: providers[0]?.id ?? api, model: 'canary-model' };
}

function spentBudget(key: ResolvedKey): BudgetUsage {
  return {
    id: `key:${key.id}:monthly`,
    scope: 'key',
    owner: key.id,
    period: 'monthly',
    limitUsd: 1,
    usedUsd: 1,
    requestUsd: 0.01,
    resetsAt: new Date(Date.now() + 3_600_000).toISOString(),
    resetsInSeconds: 3600,
  };
}

function syntheticInput(
  snapshot: Snapshot,
  key: ResolvedKey | null,
  surface: Surface,
  nowMs: number,
): DecisionInput {
  const api = apiOf(surface);
  const mcpServer = [...(snapshot.documents.get('McpServer')?.keys() ?? [])][0] ?? 'canary';
  const { provider, model } = api ? target(snapshot, key, api) : { provider: 'mcp', model: '' };
  const price = api ? snapshot.providers.get(provider)?.models.get(model) : undefined;
  return {
    surface,
    provider,
    model,
    pricedModel: price?.id,
    stream: surface === 'openai.chat' || surface === 'anthropic.messages' || surface === 'gemini.generate',
    tools: api ? ['Read', 'Bash', 'Write'] : [],
    sizes: { bodyBytes: 2048, estimatedInputTokens: 512, maxOutputTokens: price?.maxOutputTokens ?? 1024 },
    auth: { status: key ? 'ok' : 'missing', enforced: snapshot.gateway.enforceAuthOnInference },
    key: key ? keyFacts(key) : null,
    userAgent: 'portcullis-admission',
    usage: { budgets: [], rateLimits: [] },
    guardrails: { findings: [] },
    ...(surface === 'mcp.tools_call' ? { mcp: { server: mcpServer, tool: 'canary_tool' } } : {}),
    nowNs: nowMs * 1_000_000,
  };
}

/** Keys spread evenly over the policy when it has more than `max`. */
function sampleKeys(snapshot: Snapshot, max: number): ResolvedKey[] {
  const keys = [...snapshot.keys.values()];
  if (keys.length <= max) return keys;
  const step = keys.length / max;
  return Array.from({ length: max }, (_, i) => keys[Math.floor(i * step)]);
}

export function syntheticCanaries(snapshot: Snapshot, nowMs = Date.now()): Canary[] {
  const out: Canary[] = [];
  for (const surface of SURFACES) {
    out.push({ label: `anonymous ${surface}`, input: syntheticInput(snapshot, null, surface, nowMs) });
  }
  for (const key of sampleKeys(snapshot, MAX_CANARY_KEYS)) {
    for (const surface of SURFACES) {
      out.push({
        label: `key ${key.id} on ${surface}`,
        input: syntheticInput(snapshot, key, surface, nowMs),
      });
    }
    const spent = syntheticInput(snapshot, key, 'anthropic.messages', nowMs);
    spent.usage = { budgets: [spentBudget(key)], rateLimits: [] };
    out.push({ label: `key ${key.id} with its budget spent`, input: spent });
  }
  return out;
}

/** The last `limit` calls in the audit log at `dbPath`, as inputs under `snapshot`; none when there is no log. */
export function recordedCanaries(snapshot: Snapshot, dbPath: string, limit = RECENT_CALLS): Canary[] {
  if (!existsSync(dbPath)) return [];
  const store = new AuditStore(dbPath, { readOnly: true });
  try {
    return store.query({ limit, order: 'desc' }).map((entry) => {
      const record = JSON.parse(entry.json) as ReplayRecord;
      return {
        label: `recorded call ${record.requestId} (audit seq ${entry.seq})`,
        input: decisionInputFor(record, snapshot),
      };
    });
  } finally {
    store.close();
  }
}
