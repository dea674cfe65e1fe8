// What a policy change does, in words a reviewer reads: keys, budgets, models, tool scopes, guardrail
// chains, rate limits, gateway settings and Rego, each change flagged when it widens access or
// weakens a guardrail. Works on the loaded YAML (not a compiled snapshot), so it also explains a
// change that does not validate yet.
import { isDeepStrictEqual } from 'node:util';
import { readRegoSources } from '../policy/compile.ts';
import { loadPolicyDocuments } from '../policy/load.ts';

type Obj = Record<string, unknown>;

export interface PolicyObject {
  kind: string;
  name: string;
  file: string;
  labels: Record<string, string>;
  spec: Obj;
}

export interface PolicyModel {
  /** `Kind/name` → object. */
  objects: Map<string, PolicyObject>;
  /** Rego file path (relative to the policy dir) → source text. */
  rego: Map<string, string>;
}

export type Direction = 'widen' | 'narrow' | 'neutral';

export interface PolicyChange {
  /** `VirtualKey`, `Team`, …, or `Rego` for a Rego file. */
  kind: string;
  /** Object name, or the Rego file path. */
  name: string;
  /** The spec field this change is about (`models`, `budgets`, …); absent for the whole object. */
  field?: string;
  /** One sentence, e.g. `budget of team platform: 50 → 100 USD/month`. */
  summary: string;
  direction: Direction;
  /** True when the change widens access or weakens a guardrail: a reviewer should look twice. */
  risk: boolean;
  /** Other objects the change concerns, as `Kind/name` (e.g. the teams a key moved between). */
  related: string[];
}

export function loadPolicyModel(dir: string): PolicyModel {
  const objects = new Map<string, PolicyObject>();
  for (const doc of loadPolicyDocuments(dir).documents) {
    const v = doc.value;
    const meta = (v.metadata ?? {}) as Obj;
    if (typeof v.kind !== 'string' || typeof meta.name !== 'string') continue;
    objects.set(`${v.kind}/${meta.name}`, {
      kind: v.kind,
      name: meta.name,
      file: doc.file,
      labels: isObj(meta.labels) ? (meta.labels as Record<string, string>) : {},
      spec: isObj(v.spec) ? (v.spec as Obj) : {},
    });
  }
  const rego = new Map<string, string>();
  for (const s of readRegoSources(dir)) rego.set(s.path, s.content.toString('utf8'));
  return { objects, rego };
}

export const EMPTY_MODEL: PolicyModel = { objects: new Map(), rego: new Map() };

export function diffPolicyDirs(baseDir: string, headDir: string): PolicyChange[] {
  return diffPolicies(loadPolicyModel(baseDir), loadPolicyModel(headDir));
}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const arr = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
const fmt = (v: unknown): string =>
  v === undefined ? 'unset' : typeof v === 'string' ? v : JSON.stringify(v);
const list = (xs: string[]) => xs.join(', ');

const KIND_WORD: Record<string, string> = {
  VirtualKey: 'key',
  Team: 'team',
  ToolScope: 'tool scope',
  GuardrailChain: 'guardrail chain',
  Provider: 'provider',
  McpServer: 'MCP server',
  Gateway: 'gateway',
};
const word = (kind: string) => KIND_WORD[kind] ?? kind;
const PERIOD_UNIT: Record<string, string> = {
  daily: 'USD/day',
  weekly: 'USD/week',
  monthly: 'USD/month',
  yearly: 'USD/year',
  total: 'USD in total',
};
const RATE_WORDS: Record<string, string> = {
  requestsPerMinute: 'requests per minute',
  tokensPerHour: 'tokens per hour',
  maxInFlight: 'requests in flight',
};
const ACTION_STRENGTH: Record<string, number> = { block: 3, redact: 2, log: 1 };

class Collector {
  readonly changes: PolicyChange[] = [];
  add(
    obj: { kind: string; name: string },
    field: string | undefined,
    summary: string,
    direction: Direction,
    related: string[] = [],
    risk: boolean = direction === 'widen',
  ) {
    this.changes.push({ kind: obj.kind, name: obj.name, field, summary, direction, risk, related });
  }
}

export function diffPolicies(base: PolicyModel, head: PolicyModel): PolicyChange[] {
  const c = new Collector();
  const ids = [...new Set([...base.objects.keys(), ...head.objects.keys()])].sort();
  for (const id of ids) {
    const b = base.objects.get(id);
    const h = head.objects.get(id);
    if (b && h) diffObject(c, b, h, head);
    else if (h) added(c, h);
    else if (b) removed(c, b);
  }
  const files = [...new Set([...base.rego.keys(), ...head.rego.keys()])].sort();
  for (const f of files) {
    const b = base.rego.get(f);
    const h = head.rego.get(f);
    if (b === h) continue;
    const obj = { kind: 'Rego', name: f };
    const isTest = /_test\.rego$/.test(f);
    const what = b === undefined ? 'added' : h === undefined ? 'removed' : `changed (${lineDelta(b, h)})`;
    // Decision logic can do anything: flag it and let the replay say what it changes.
    if (isTest) c.add(obj, undefined, `Rego test file ${f} ${what}`, 'neutral');
    else c.add(obj, undefined, `Rego file ${f} ${what}: decision logic changed`, 'neutral', [], true);
  }
  return c.changes;
}

function lineDelta(a: string, b: string): string {
  const al = a.split('\n');
  const bl = b.split('\n');
  const inA = new Map<string, number>();
  for (const l of al) inA.set(l, (inA.get(l) ?? 0) + 1);
  let common = 0;
  for (const l of bl) {
    const n = inA.get(l) ?? 0;
    if (n > 0) {
      common++;
      inA.set(l, n - 1);
    }
  }
  return `+${bl.length - common} −${al.length - common} lines`;
}

function added(c: Collector, o: PolicyObject) {
  const s = o.spec;
  switch (o.kind) {
    case 'VirtualKey': {
      const scope = s.toolScope ? `tool scope ${s.toolScope}` : 'no tool scope (every tool)';
      c.add(
        o,
        undefined,
        `key ${o.name} added for ${fmt(s.owner)} in team ${fmt(s.team)}: models ${list(arr(s.models))}; ${scope}`,
        'widen',
        [`Team/${s.team}`],
      );
      if (s.disabled === true) c.changes[c.changes.length - 1].risk = false;
      return;
    }
    case 'Provider':
      return c.add(o, undefined, `provider ${o.name} added (${fmt(s.baseUrl)})`, 'widen');
    case 'McpServer':
      return c.add(o, undefined, `MCP server ${o.name} added`, 'widen');
    case 'GuardrailChain':
      return c.add(
        o,
        undefined,
        `guardrail chain ${o.name} added with ${arr(s.steps).length} steps`,
        'neutral',
      );
    default:
      return c.add(o, undefined, `${word(o.kind)} ${o.name} added`, 'neutral');
  }
}

function removed(c: Collector, o: PolicyObject) {
  switch (o.kind) {
    case 'VirtualKey':
      return c.add(o, undefined, `key ${o.name} removed: its calls are refused as unknown`, 'narrow', [
        `Team/${o.spec.team}`,
      ]);
    case 'GuardrailChain':
      return c.add(o, undefined, `guardrail chain ${o.name} removed`, 'neutral', [], true);
    case 'Gateway':
      return c.add(
        o,
        undefined,
        'gateway settings removed: every setting falls back to its default',
        'neutral',
        [],
        true,
      );
    default:
      return c.add(o, undefined, `${word(o.kind)} ${o.name} removed`, 'narrow');
  }
}

function diffObject(c: Collector, b: PolicyObject, h: PolicyObject, head: PolicyModel) {
  const handled = new Set<string>();
  const field = (name: string) => {
    handled.add(name);
    return [b.spec[name], h.spec[name]] as const;
  };
  const who = `${word(h.kind)} ${h.name}`;
  switch (h.kind) {
    case 'VirtualKey': {
      const [bd, hd] = field('disabled');
      if ((bd === true) !== (hd === true)) {
        if (hd === true) c.add(h, 'disabled', `key ${h.name} disabled`, 'narrow');
        else c.add(h, 'disabled', `key ${h.name} re-enabled`, 'widen');
      }
      const [be, he] = field('expiresAt');
      if (be !== he) expiry(c, h, be, he);
      const [bt, ht] = field('team');
      if (bt !== ht)
        c.add(h, 'team', `key ${h.name} moved from team ${fmt(bt)} to team ${fmt(ht)}`, 'neutral', [
          `Team/${bt}`,
          `Team/${ht}`,
        ]);
      const [bo, ho] = field('owner');
      if (bo !== ho) c.add(h, 'owner', `owner of key ${h.name}: ${fmt(bo)} → ${fmt(ho)}`, 'neutral');
      const [bh, hh] = field('keyHash');
      if (bh !== hh)
        c.add(h, 'keyHash', `key ${h.name} rotated (new key hash): the old key stops working`, 'neutral');
      globs(c, h, 'models', 'models', field('models'), false);
      providers(c, h, field('providers'));
      const [bs, hs] = field('toolScope');
      if (bs !== hs) {
        if (hs === undefined)
          c.add(
            h,
            'toolScope',
            `key ${h.name} no longer has tool scope ${bs}: every tool is allowed`,
            'widen',
          );
        else if (bs === undefined)
          c.add(h, 'toolScope', `key ${h.name} now restricted to tool scope ${hs}`, 'narrow');
        else
          c.add(
            h,
            'toolScope',
            `tool scope of key ${h.name}: ${bs} → ${hs}`,
            'neutral',
            [`ToolScope/${hs}`],
            true,
          );
      }
      chainRef(c, h, field('guardrailChain'), fallbackChain(head, h));
      break;
    }
    case 'Team': {
      const [bp, hp] = field('parent');
      if (bp !== hp) c.add(h, 'parent', `parent of team ${h.name}: ${fmt(bp)} → ${fmt(hp)}`, 'neutral');
      chainRef(c, h, field('guardrailChain'), fallbackChain(head, h));
      break;
    }
    case 'ToolScope':
      for (const part of ['mcp', 'agentTools'] as const) {
        handled.add(part);
        const bp = isObj(b.spec[part]) ? (b.spec[part] as Obj) : undefined;
        const hp = isObj(h.spec[part]) ? (h.spec[part] as Obj) : undefined;
        scopeLists(c, h, part, bp, hp);
      }
      break;
    case 'GuardrailChain':
      handled.add('steps');
      chainSteps(c, h, arr2(b.spec.steps), arr2(h.spec.steps));
      break;
    case 'Gateway': {
      const [ba, ha] = field('enforceAuthOnInference');
      if ((ba ?? true) !== (ha ?? true)) {
        if (ha === false)
          c.add(
            h,
            'enforceAuthOnInference',
            'gateway: enforceAuthOnInference turned off: calls without a key are no longer refused',
            'widen',
          );
        else
          c.add(
            h,
            'enforceAuthOnInference',
            'gateway: enforceAuthOnInference turned on: calls need a key',
            'narrow',
          );
      }
      const [bf, hf] = field('failMode');
      if ((bf ?? 'closed') !== (hf ?? 'closed')) {
        if (hf === 'open')
          c.add(
            h,
            'failMode',
            'gateway: failMode open: calls go through unchecked when a dependency is down',
            'widen',
          );
        else
          c.add(
            h,
            'failMode',
            'gateway: failMode closed: calls are refused when a dependency is down',
            'narrow',
          );
      }
      chainRef(c, h, field('defaultGuardrailChain'), undefined, 'defaultGuardrailChain');
      const [bm, hm] = field('maxRequestBytes');
      if (bm !== hm) numberChange(c, h, 'maxRequestBytes', 'gateway: maxRequestBytes', bm, hm, 'bytes');
      break;
    }
    case 'Provider': {
      const bm = new Map(arr2(b.spec.models).map((m) => [String(m.id), m]));
      const hm = new Map(arr2(h.spec.models).map((m) => [String(m.id), m]));
      handled.add('models');
      const addedModels = [...hm.keys()].filter((m) => !bm.has(m));
      const removedModels = [...bm.keys()].filter((m) => !hm.has(m));
      if (addedModels.length)
        c.add(h, 'models', `provider ${h.name} offers models ${list(addedModels)}`, 'widen');
      if (removedModels.length)
        c.add(h, 'models', `provider ${h.name} no longer offers models ${list(removedModels)}`, 'narrow');
      for (const [id, m] of hm) {
        const old = bm.get(id);
        if (old && !isDeepStrictEqual(old, m))
          c.add(h, 'models', `price or limits of model ${id} at provider ${h.name} changed`, 'neutral');
      }
      const [bu, hu] = field('baseUrl');
      if (bu !== hu)
        c.add(
          h,
          'baseUrl',
          `provider ${h.name} now sends traffic to ${fmt(hu)} (was ${fmt(bu)})`,
          'neutral',
          [],
          true,
        );
      break;
    }
  }
  if (h.kind === 'VirtualKey' || h.kind === 'Team') {
    budgets(c, h, who, field('budgets'));
    rateLimits(c, h, who, field('rateLimits'));
  }
  // Anything not explained above is still reported, so a diff never hides a change.
  for (const k of [...new Set([...Object.keys(b.spec), ...Object.keys(h.spec)])].sort()) {
    if (handled.has(k) || isDeepStrictEqual(b.spec[k], h.spec[k])) continue;
    if (k === 'displayName') continue;
    c.add(h, k, `${who}: ${k} ${fmt(b.spec[k])} → ${fmt(h.spec[k])}`, 'neutral');
  }
  if (!isDeepStrictEqual(b.labels, h.labels)) c.add(h, 'labels', `${who}: labels changed`, 'neutral');
}

const arr2 = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);

function expiry(c: Collector, h: PolicyObject, be: unknown, he: unknown) {
  if (he === undefined)
    return c.add(h, 'expiresAt', `key ${h.name} no longer expires (was ${fmt(be)})`, 'widen');
  if (be === undefined) return c.add(h, 'expiresAt', `key ${h.name} now expires at ${fmt(he)}`, 'narrow');
  const later = Date.parse(String(he)) > Date.parse(String(be));
  c.add(h, 'expiresAt', `expiry of key ${h.name}: ${fmt(be)} → ${fmt(he)}`, later ? 'widen' : 'narrow');
}

function globs(
  c: Collector,
  h: PolicyObject,
  field: string,
  what: string,
  [b, n]: readonly [unknown, unknown],
  emptyMeansAll: boolean,
) {
  const bl = arr(b);
  const hl = arr(n);
  const plus = hl.filter((x) => !bl.includes(x));
  const minus = bl.filter((x) => !hl.includes(x));
  if (emptyMeansAll && bl.length > 0 && hl.length === 0)
    return c.add(
      h,
      field,
      `key ${h.name} may now use every ${what.replace(/s$/, '')} (was ${list(bl)})`,
      'widen',
    );
  if (emptyMeansAll && bl.length === 0 && hl.length > 0)
    return c.add(h, field, `key ${h.name} restricted to ${what} ${list(hl)} (was every one)`, 'narrow');
  if (plus.length) c.add(h, field, `key ${h.name} may now use ${what} ${list(plus)}`, 'widen');
  if (minus.length) c.add(h, field, `key ${h.name} may no longer use ${what} ${list(minus)}`, 'narrow');
}

function providers(c: Collector, h: PolicyObject, pair: readonly [unknown, unknown]) {
  globs(c, h, 'providers', 'providers', pair, true);
}

function budgetId(x: Obj): string {
  return typeof x.name === 'string' ? `name:${x.name}` : `period:${x.period}`;
}

function budgets(c: Collector, h: PolicyObject, who: string, [b, n]: readonly [unknown, unknown]) {
  const bm = new Map(arr2(b).map((x) => [budgetId(x), x]));
  const hm = new Map(arr2(n).map((x) => [budgetId(x), x]));
  const label = (x: Obj) => `budget${typeof x.name === 'string' ? ` ${x.name}` : ''} of ${who}`;
  for (const [id, old] of bm) {
    const cur = hm.get(id);
    const unit = PERIOD_UNIT[String(old.period)] ?? `USD/${old.period}`;
    if (!cur) {
      c.add(h, 'budgets', `${label(old)} removed (was ${old.amountUsd} ${unit})`, 'widen');
      continue;
    }
    if (cur.amountUsd !== old.amountUsd) {
      const raised = Number(cur.amountUsd) > Number(old.amountUsd);
      c.add(
        h,
        'budgets',
        `${label(cur)}: ${old.amountUsd} → ${cur.amountUsd} ${unit}`,
        raised ? 'widen' : 'narrow',
      );
    }
    if (cur.period !== old.period)
      c.add(h, 'budgets', `${label(cur)}: period ${old.period} → ${cur.period}`, 'neutral', [], true);
  }
  for (const [id, cur] of hm) {
    if (bm.has(id)) continue;
    const unit = PERIOD_UNIT[String(cur.period)] ?? `USD/${cur.period}`;
    c.add(h, 'budgets', `${label(cur)} added: ${cur.amountUsd} ${unit}`, 'narrow');
  }
}

function rateLimits(c: Collector, h: PolicyObject, who: string, [b, n]: readonly [unknown, unknown]) {
  const bo = isObj(b) ? b : {};
  const ho = isObj(n) ? n : {};
  for (const k of [...new Set([...Object.keys(bo), ...Object.keys(ho)])].sort()) {
    numberChange(c, h, 'rateLimits', `rate limit of ${who} (${RATE_WORDS[k] ?? k})`, bo[k], ho[k], '');
  }
}

function numberChange(
  c: Collector,
  h: PolicyObject,
  field: string,
  label: string,
  b: unknown,
  n: unknown,
  unit: string,
) {
  if (b === n) return;
  const u = unit ? ` ${unit}` : '';
  if (n === undefined) return c.add(h, field, `${label} removed (was ${b}${u})`, 'widen');
  if (b === undefined) return c.add(h, field, `${label} set to ${n}${u}`, 'narrow');
  c.add(h, field, `${label}: ${b} → ${n}${u}`, Number(n) > Number(b) ? 'widen' : 'narrow');
}

/** The chain a key or team falls back to when it names none, in the given model. */
function fallbackChain(m: PolicyModel, o: PolicyObject): string | undefined {
  let team = o.kind === 'VirtualKey' ? String(o.spec.team) : (o.spec.parent as string | undefined);
  const seen = new Set<string>();
  while (team && !seen.has(team)) {
    seen.add(team);
    const t = m.objects.get(`Team/${team}`);
    if (t?.spec.guardrailChain) return String(t.spec.guardrailChain);
    team = t?.spec.parent as string | undefined;
  }
  for (const o2 of m.objects.values()) {
    if (o2.kind === 'Gateway' && o2.spec.defaultGuardrailChain) return String(o2.spec.defaultGuardrailChain);
  }
  return undefined;
}

function chainRef(
  c: Collector,
  h: PolicyObject,
  [b, n]: readonly [unknown, unknown],
  fallback: string | undefined,
  field = 'guardrailChain',
) {
  if (b === n) return;
  const who = h.kind === 'Gateway' ? 'gateway default' : `${word(h.kind)} ${h.name}`;
  if (n === undefined) {
    const then = fallback ? `falls back to ${fallback}` : 'no guardrail chain applies';
    c.add(h, field, `guardrail chain ${b} detached from ${who}: ${then}`, 'widen', [`GuardrailChain/${b}`]);
  } else if (b === undefined) {
    c.add(h, field, `guardrail chain ${n} attached to ${who}`, 'narrow', [`GuardrailChain/${n}`]);
  } else {
    c.add(
      h,
      field,
      `guardrail chain of ${who}: ${b} → ${n}`,
      'neutral',
      [`GuardrailChain/${b}`, `GuardrailChain/${n}`],
      true,
    );
  }
}

function scopeLists(
  c: Collector,
  h: PolicyObject,
  part: 'mcp' | 'agentTools',
  b: Obj | undefined,
  n: Obj | undefined,
) {
  const what = part === 'mcp' ? 'MCP tools' : 'agent tools';
  const who = `tool scope ${h.name}`;
  const bAllow = b?.allow === undefined ? undefined : arr(b.allow);
  const hAllow = n?.allow === undefined ? undefined : arr(n.allow);
  // Agent tools with no allow list are all allowed; MCP tools with none are all denied.
  if (part === 'agentTools' && bAllow !== undefined && hAllow === undefined)
    c.add(
      h,
      `${part}.allow`,
      `${who}: allow list for ${what} removed: every ${what.replace(/s$/, '')} not denied is allowed`,
      'widen',
    );
  else if (part === 'agentTools' && bAllow === undefined && hAllow !== undefined)
    c.add(h, `${part}.allow`, `${who}: ${what} limited to ${list(hAllow)}`, 'narrow');
  else {
    const bl = bAllow ?? [];
    const hl = hAllow ?? [];
    const plus = hl.filter((x) => !bl.includes(x));
    const minus = bl.filter((x) => !hl.includes(x));
    if (plus.length) c.add(h, `${part}.allow`, `${who}: ${what} allowed: ${list(plus)}`, 'widen');
    if (minus.length)
      c.add(h, `${part}.allow`, `${who}: ${what} no longer allowed: ${list(minus)}`, 'narrow');
  }
  const bd = arr(b?.deny);
  const hd = arr(n?.deny);
  const plus = hd.filter((x) => !bd.includes(x));
  const minus = bd.filter((x) => !hd.includes(x));
  if (minus.length) c.add(h, `${part}.deny`, `${who}: ${what} no longer denied: ${list(minus)}`, 'widen');
  if (plus.length) c.add(h, `${part}.deny`, `${who}: ${what} now denied: ${list(plus)}`, 'narrow');
}

function stepLabel(s: Obj, i: number): string {
  return `step ${i + 1} (${fmt(s.detector)}, ${fmt(s.stage ?? 'request')}, ${fmt(s.action)})`;
}

/** Steps are matched by detector, in order of appearance, so reordering alone is not a removal. */
function chainSteps(c: Collector, h: PolicyObject, b: Obj[], n: Obj[]) {
  const who = `guardrail chain ${h.name}`;
  const used = new Set<number>();
  const match = (s: Obj) => {
    const i = n.findIndex((x, j) => !used.has(j) && x.detector === s.detector);
    if (i >= 0) used.add(i);
    return i;
  };
  b.forEach((s, bi) => {
    const hi = match(s);
    if (hi < 0) {
      c.add(h, 'steps', `${who}: ${stepLabel(s, bi)} removed`, 'widen');
      return;
    }
    const t = n[hi];
    const ba = ACTION_STRENGTH[String(s.action)] ?? 0;
    const ha = ACTION_STRENGTH[String(t.action)] ?? 0;
    if (ha < ba)
      c.add(h, 'steps', `${who}: ${fmt(s.detector)} step weakened from ${s.action} to ${t.action}`, 'widen');
    if (ha > ba)
      c.add(
        h,
        'steps',
        `${who}: ${fmt(s.detector)} step strengthened from ${s.action} to ${t.action}`,
        'narrow',
      );
    const bs = String(s.stage ?? 'request');
    const hs = String(t.stage ?? 'request');
    if (bs !== hs) {
      const narrower = bs === 'both';
      c.add(
        h,
        'steps',
        `${who}: ${fmt(s.detector)} step now runs on ${hs} (was ${bs})`,
        narrower ? 'widen' : hs === 'both' ? 'narrow' : 'neutral',
        [],
        narrower || hs !== 'both',
      );
    }
    const { action: _a1, stage: _s1, ...bp } = s;
    const { action: _a2, stage: _s2, ...hp } = t;
    if (!isDeepStrictEqual(bp, hp))
      c.add(
        h,
        'steps',
        `${who}: settings of the ${fmt(s.detector)} step changed: ${JSON.stringify(bp)} → ${JSON.stringify(hp)}`,
        'neutral',
        [],
        true,
      );
  });
  n.forEach((t, i) => {
    if (!used.has(i)) c.add(h, 'steps', `${who}: ${stepLabel(t, i)} added`, 'narrow');
  });
}

/** Changes concerning one object (`Kind/name`): its own, and those that name it as related. */
export function changesFor(changes: PolicyChange[], id: string): PolicyChange[] {
  return changes.filter((ch) => `${ch.kind}/${ch.name}` === id || ch.related.includes(id));
}
