// Turns validated documents into the resolved lookup structures of a Snapshot and the data
// document the Rego policy sees as `data.portcullis`.

import { createHash } from 'node:crypto';
import { CACHE_WRITE_LONG_MULTIPLIER, CACHE_WRITE_MULTIPLIER } from '../providers/pricing.ts';
import { secretRefOf } from '../secrets/types.ts';
import type { Gateway, Provider, Team, VirtualKey } from './generated/index.ts';
import type { LoadedDocument } from './load.ts';
import { positionOf } from './load.ts';
import type {
  GatewaySettings,
  ModelPrice,
  PolicyDocument,
  ResolvedKey,
  ResolvedProvider,
  ResolvedTeam,
} from './snapshot.ts';

export interface ResolvedPolicy {
  gateway: GatewaySettings;
  keys: Map<string, ResolvedKey>;
  keysByHash: Map<string, ResolvedKey>;
  teams: Map<string, ResolvedTeam>;
  providers: Map<string, ResolvedProvider>;
  documents: Map<string, Map<string, PolicyDocument>>;
}

/** `PORTCULLIS_UPSTREAM_<NAME>`: the provider name upper-cased, non-alphanumerics as `_`. */
export function upstreamOverrideVar(provider: string): string {
  return `PORTCULLIS_UPSTREAM_${provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export function resolvePolicy(
  loaded: LoadedDocument[],
  env: NodeJS.ProcessEnv = process.env,
): ResolvedPolicy {
  const documents = new Map<string, Map<string, PolicyDocument>>();
  for (const doc of loaded) {
    const kind = doc.value.kind as string;
    const byName = documents.get(kind) ?? new Map<string, PolicyDocument>();
    documents.set(kind, byName);
    const pos = positionOf(doc, doc.offset);
    const value = doc.value as unknown as PolicyDocument;
    byName.set(value.metadata.name, { ...value, location: { file: doc.file, ...pos } });
  }
  const ofKind = <T>(kind: string) => [...(documents.get(kind)?.values() ?? [])] as unknown as T[];

  const gw = ofKind<Gateway>('Gateway')[0]?.spec ?? {};
  const gateway: GatewaySettings = {
    enforceAuthOnInference: gw.enforceAuthOnInference ?? true,
    budgetTimezone: gw.budgetTimezone ?? 'UTC',
    failMode: gw.failMode ?? 'closed',
    limits: { store: gw.limits?.store ?? 'sqlite', redisUrl: readSecretRef(gw.limits?.redisUrl, env) },
    defaultGuardrailChain: gw.defaultGuardrailChain,
    maxRequestBytes: gw.maxRequestBytes ?? 32 * 1024 * 1024,
    audit: { contentLogging: gw.audit?.contentLogging ?? false, sinks: gw.audit?.sinks ?? [] },
    alerts: { channels: gw.alerts?.channels ?? [], maxPerMinute: gw.alerts?.maxPerMinute ?? 60 },
  };

  const providers = new Map<string, ResolvedProvider>();
  for (const p of ofKind<Provider>('Provider')) {
    const models = new Map<string, ModelPrice>();
    for (const m of p.spec.models) {
      models.set(m.id, {
        id: m.id,
        inputPerMTok: m.inputPerMTok,
        outputPerMTok: m.outputPerMTok,
        cachedInputPerMTok: m.cachedInputPerMTok ?? m.inputPerMTok,
        cacheWrite5mPerMTok: m.cacheWrite5mPerMTok ?? m.inputPerMTok * CACHE_WRITE_MULTIPLIER,
        cacheWrite1hPerMTok: m.cacheWrite1hPerMTok ?? m.inputPerMTok * CACHE_WRITE_LONG_MULTIPLIER,
        maxOutputTokens: m.maxOutputTokens,
        contextWindow: m.contextWindow,
      });
    }
    const headers: Record<string, { env: string }> = {};
    for (const [name, ref] of Object.entries(p.spec.headers ?? {})) {
      if (ref?.fromEnv) headers[name] = { env: ref.fromEnv };
    }
    providers.set(p.metadata.name, {
      id: p.metadata.name,
      api: p.spec.api,
      baseUrl: (env[upstreamOverrideVar(p.metadata.name)] || p.spec.baseUrl).replace(/\/+$/, ''),
      credential: {
        env: p.spec.credential?.fromEnv,
        file: p.spec.credential?.fromFile,
        secret: p.spec.credential ? secretRefOf(p.spec.credential) : undefined,
      },
      cloud: p.spec.cloud,
      headers,
      models,
      timeoutMs: p.spec.timeoutMs ?? 600_000,
    });
  }

  const teamDocs = new Map(ofKind<Team>('Team').map((t) => [t.metadata.name, t]));
  const lineageOf = (id: string): string[] => {
    const out: string[] = [];
    for (let t: string | undefined = id; t && !out.includes(t); t = teamDocs.get(t)?.spec.parent) out.push(t);
    return out;
  };
  const teams = new Map<string, ResolvedTeam>();
  for (const t of teamDocs.values()) {
    const lineage = lineageOf(t.metadata.name);
    teams.set(t.metadata.name, {
      id: t.metadata.name,
      parent: t.spec.parent,
      lineage,
      budgets: t.spec.budgets ?? [],
      rateLimits: t.spec.rateLimits ?? {},
      modelRateLimits: t.spec.modelRateLimits ?? [],
      outputCaps: t.spec.outputCaps ?? [],
      guardrailChain: lineage.map((id) => teamDocs.get(id)?.spec.guardrailChain).find(Boolean),
      // Nearest team that says, else the gateway-wide setting.
      contentLogging:
        lineage.map((id) => teamDocs.get(id)?.spec.contentLogging).find((v) => v !== undefined) ??
        gateway.audit.contentLogging,
    });
  }

  const keys = new Map<string, ResolvedKey>();
  const keysByHash = new Map<string, ResolvedKey>();
  for (const k of ofKind<VirtualKey>('VirtualKey')) {
    const team = teams.get(k.spec.team);
    const key: ResolvedKey = {
      id: k.metadata.name,
      hash: k.spec.keyHash.slice('sha256:'.length),
      owner: k.spec.owner,
      team: k.spec.team,
      teams: team?.lineage ?? [k.spec.team],
      disabled: k.spec.disabled ?? false,
      expiresAt: k.spec.expiresAt ? Date.parse(k.spec.expiresAt) : undefined,
      providers: k.spec.providers ?? [],
      models: [...k.spec.models],
      toolScope: k.spec.toolScope,
      guardrailChain: k.spec.guardrailChain ?? team?.guardrailChain ?? gateway.defaultGuardrailChain,
      budgets: k.spec.budgets ?? [],
      rateLimits: k.spec.rateLimits ?? {},
      modelRateLimits: k.spec.modelRateLimits ?? [],
      outputCaps: k.spec.outputCaps ?? [],
      contentLogging: k.spec.contentLogging ?? team?.contentLogging ?? gateway.audit.contentLogging,
      labels: k.metadata.labels
        ? (Object.fromEntries(Object.entries(k.metadata.labels)) as Record<string, string>)
        : {},
    };
    keys.set(key.id, key);
    keysByHash.set(key.hash, key);
  }
  return { gateway, keys, keysByHash, teams, providers, documents };
}

function readSecretRef(ref: { fromEnv?: string; fromFile?: string } | undefined, env: NodeJS.ProcessEnv) {
  if (ref?.fromEnv) return env[ref.fromEnv];
  return ref?.fromFile ? `file:${ref.fromFile}` : undefined;
}

/**
 * `data.portcullis` for the Rego policy: everything but key hashes and secret references; the keys
 * only with `withKeys` (default), for Rego that may read them (src/policy/data-needs.ts).
 */
export function dataDocument(
  policy: ResolvedPolicy,
  revision: string,
  { withKeys = true }: { withKeys?: boolean } = {},
): Record<string, unknown> {
  const specs = (kind: string) =>
    Object.fromEntries(
      [...(policy.documents.get(kind)?.values() ?? [])].map((d) => [d.metadata.name, d.spec]),
    );
  const keys: Record<string, unknown> = {};
  for (const k of withKeys ? policy.keys.values() : []) {
    const { hash: _hash, ...rest } = k;
    keys[k.id] = rest;
  }
  const providers: Record<string, unknown> = {};
  for (const p of policy.providers.values()) {
    providers[p.id] = { api: p.api, models: Object.fromEntries(p.models) };
  }
  return {
    portcullis: {
      revision,
      // redisUrl may carry a password: Rego sees only which store is used.
      gateway: {
        ...policy.gateway,
        limits: { store: policy.gateway.limits.store },
        alerts: { channels: policy.gateway.alerts.channels.map((c) => c.name) },
      },
      teams: Object.fromEntries(policy.teams),
      keys,
      providers,
      toolScopes: specs('ToolScope'),
      agentToolPatterns: agentToolPatterns(policy),
      guardrailChains: specs('GuardrailChain'),
      mcpServers: Object.fromEntries(
        [...(policy.documents.get('McpServer')?.values() ?? [])].map((d) => [
          d.metadata.name,
          { transport: d.spec.transport },
        ]),
      ),
    },
  };
}

const GLOB_CHARS = /[*?[{]/;

function splitPatterns(patterns: readonly string[] = []) {
  return {
    names: Object.fromEntries(patterns.filter((p) => !GLOB_CHARS.test(p)).map((p) => [p, true])),
    globs: patterns.filter((p) => GLOB_CHARS.test(p)),
  };
}

/**
 * Each scope's agent-tool patterns split once per revision into plain names and real globs, in the
 * shape policies/rego/tools.rego reads (it splits them itself when this is absent).
 */
function agentToolPatterns(policy: ResolvedPolicy): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const doc of policy.documents.get('ToolScope')?.values() ?? []) {
    const agent = (doc.spec as { agentTools?: { allow?: string[]; deny?: string[] } }).agentTools;
    if (agent === undefined) continue;
    out[doc.metadata.name] = {
      deny: splitPatterns(agent.deny),
      allowList: agent.allow !== undefined,
      allow: splitPatterns(agent.allow),
    };
  }
  return out;
}

/** Content hash of a set of files, used as the revision outside git and as a compile-cache key. */
export function contentHash(files: { path: string; content: Buffer | string }[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
    h.update(f.path).update('\0').update(f.content).update('\0');
  }
  return h.digest('hex');
}
