// Checks that span documents: unique ids, references that resolve, a team tree without cycles,
// model globs that match something, and no credential written into the policy.

import { crossCheckIdentity } from '../identity/crosscheck.ts';
import { isValidTimeZone } from '../limits/period.ts';
import type { LoadedDocument } from './load.ts';
import { positionOf } from './load.ts';
import { globToRegExp } from './models.ts';
import type { PolicyProblem } from './problems.ts';
import { offsetOf } from './validate.ts';

type Spec = Record<string, unknown>;

export interface CrossCheckOptions {
  /** Returns the kind of credential a string looks like, or undefined. */
  detectCredential?: (text: string) => string | undefined;
}

const nameOf = (d: LoadedDocument) => (d.value.metadata as { name: string }).name;
const specOf = (d: LoadedDocument) => (d.value.spec ?? {}) as Spec;
const kindOf = (d: LoadedDocument) => d.value.kind as string;

export function crossCheck(documents: LoadedDocument[], options: CrossCheckOptions = {}): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const at = (doc: LoadedDocument, path: (string | number)[], message: string) =>
    problems.push({
      file: doc.file,
      ...positionOf(doc, offsetOf(doc, path)),
      field: path.join('.').replace(/\.(\d+)/g, '[$1]') || undefined,
      message,
    });

  const byKind = new Map<string, Map<string, LoadedDocument>>();
  for (const doc of documents) {
    const kind = kindOf(doc);
    const name = nameOf(doc);
    const names = byKind.get(kind) ?? new Map<string, LoadedDocument>();
    byKind.set(kind, names);
    const first = names.get(name);
    if (first) {
      const pos = positionOf(first, first.offset);
      at(
        doc,
        ['metadata', 'name'],
        `duplicate ${kind} '${name}' (first defined at ${first.file}:${pos.line})`,
      );
    } else {
      names.set(name, doc);
    }
  }
  const all = (kind: string) => [...(byKind.get(kind)?.values() ?? [])];
  const has = (kind: string, name: unknown) => typeof name === 'string' && !!byKind.get(kind)?.has(name);
  const ref = (doc: LoadedDocument, path: (string | number)[], kind: string, name: unknown) => {
    if (name !== undefined && !has(kind, name))
      at(doc, path, `refers to ${kind} '${name}', which is not defined`);
  };

  const gateways = all('Gateway');
  for (const extra of gateways.slice(1)) at(extra, ['kind'], 'only one Gateway document is allowed');
  for (const gw of gateways) {
    const spec = specOf(gw);
    ref(gw, ['spec', 'defaultGuardrailChain'], 'GuardrailChain', spec.defaultGuardrailChain);
    if (typeof spec.budgetTimezone === 'string' && !isValidTimeZone(spec.budgetTimezone)) {
      at(gw, ['spec', 'budgetTimezone'], `'${spec.budgetTimezone}' is not an IANA time zone`);
    }
    const limits = spec.limits as Spec | undefined;
    if (limits?.store === 'redis' && !limits.redisUrl) {
      at(gw, ['spec', 'limits'], "store 'redis' needs redisUrl (fromEnv or fromFile)");
    }
  }

  const budgetZones = (doc: LoadedDocument) => {
    const budgets = (specOf(doc).budgets ?? []) as Spec[];
    budgets.forEach((b, i) => {
      if (typeof b.timezone === 'string' && !isValidTimeZone(b.timezone)) {
        at(doc, ['spec', 'budgets', i, 'timezone'], `'${b.timezone}' is not an IANA time zone`);
      }
    });
    const ids = new Set<string>();
    budgets.forEach((b, i) => {
      const id = String(b.name ?? b.period);
      if (ids.has(id)) {
        at(doc, ['spec', 'budgets', i], `two budgets are identified as '${id}'; give one a distinct name`);
      }
      ids.add(id);
    });
  };

  const models = new Map<string, string[]>();
  for (const p of all('Provider')) {
    const list = ((specOf(p).models ?? []) as Spec[]).map((m) => String(m.id));
    models.set(nameOf(p), list);
    const seen = new Set<string>();
    list.forEach((id, i) => {
      if (seen.has(id)) at(p, ['spec', 'models', i, 'id'], `model '${id}' is listed twice`);
      seen.add(id);
    });
  }

  for (const team of all('Team')) {
    const spec = specOf(team);
    ref(team, ['spec', 'parent'], 'Team', spec.parent);
    ref(team, ['spec', 'guardrailChain'], 'GuardrailChain', spec.guardrailChain);
    budgetZones(team);
    const seen = new Set([nameOf(team)]);
    let parent = spec.parent as string | undefined;
    while (parent && has('Team', parent)) {
      if (seen.has(parent)) {
        at(team, ['spec', 'parent'], `team hierarchy has a cycle: ${[...seen, parent].join(' → ')}`);
        break;
      }
      seen.add(parent);
      parent = specOf(byKind.get('Team')!.get(parent)!).parent as string | undefined;
    }
  }

  const hashes = new Map<string, LoadedDocument>();
  for (const key of all('VirtualKey')) {
    const spec = specOf(key);
    ref(key, ['spec', 'team'], 'Team', spec.team);
    ref(key, ['spec', 'guardrailChain'], 'GuardrailChain', spec.guardrailChain);
    ref(key, ['spec', 'toolScope'], 'ToolScope', spec.toolScope);
    budgetZones(key);
    const providers = (spec.providers as string[] | undefined) ?? [...models.keys()];
    (spec.providers as string[] | undefined)?.forEach((p, i) => {
      ref(key, ['spec', 'providers', i], 'Provider', p);
    });
    const reachable = providers.flatMap((p) => models.get(p) ?? []);
    ((spec.models ?? []) as string[]).forEach((glob, i) => {
      const re = globToRegExp(glob);
      // A glob may name dated variants (`claude-haiku-4-5-2025*`) that extend a listed id.
      const matches = reachable.some((m) => re.test(m) || glob.startsWith(`${m}-`));
      if (!matches) {
        at(key, ['spec', 'models', i], `'${glob}' matches no model of the providers this key may use`);
      }
    });
    const hash = spec.keyHash as string;
    const first = hashes.get(hash);
    if (first)
      at(key, ['spec', 'keyHash'], `same keyHash as VirtualKey '${nameOf(first)}'; every key needs its own`);
    else hashes.set(hash, key);
  }

  for (const scope of all('ToolScope')) {
    const mcp = (specOf(scope).mcp ?? {}) as Spec;
    for (const list of ['allow', 'deny'] as const) {
      ((mcp[list] ?? []) as string[]).forEach((glob, i) => {
        const slash = glob.indexOf('/');
        if (slash < 0) {
          at(scope, ['spec', 'mcp', list, i], `'${glob}' must have the form server/tool (globs allowed)`);
          return;
        }
        const server = glob.slice(0, slash);
        if (!/[*?[]/.test(server) && !has('McpServer', server)) {
          at(scope, ['spec', 'mcp', list, i], `refers to McpServer '${server}', which is not defined`);
        }
      });
    }
  }

  problems.push(...crossCheckIdentity(documents));

  if (options.detectCredential) {
    for (const doc of documents) findCredentials(doc, doc.value, [], options.detectCredential, at);
  }
  for (const route of all('Route')) {
    const spec = specOf(route);
    for (const list of ['targets', 'fallbacks'] as const) {
      ((spec[list] ?? []) as Spec[]).forEach((t, i) => {
        ref(route, ['spec', list, i, 'provider'], 'Provider', t.provider);
        const served = models.get(String(t.provider));
        const model = String(t.model);
        if (
          t.model !== undefined &&
          served !== undefined &&
          !served.some((m) => m === model || model.startsWith(`${m}-`))
        )
          at(route, ['spec', list, i, 'model'], `provider '${t.provider}' does not price model '${model}'`);
      });
    }
    const match = (spec.match ?? {}) as Spec;
    ((match.teams ?? []) as string[]).forEach((t, i) => {
      ref(route, ['spec', 'match', 'teams', i], 'Team', t);
    });
    ((match.keys ?? []) as string[]).forEach((k, i) => {
      ref(route, ['spec', 'match', 'keys', i], 'VirtualKey', k);
    });
  }

  return problems;
}

function findCredentials(
  doc: LoadedDocument,
  value: unknown,
  path: (string | number)[],
  detect: (text: string) => string | undefined,
  at: (doc: LoadedDocument, path: (string | number)[], message: string) => void,
): void {
  if (typeof value === 'string') {
    // keyHash is a digest by construction; everything else is checked.
    if (path[path.length - 1] === 'keyHash') return;
    const kind = detect(value);
    if (kind) {
      at(
        doc,
        path,
        `looks like a plaintext credential (${kind}); reference it with fromEnv or fromFile instead, and rotate it`,
      );
    }
  } else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) findCredentials(doc, v, [...path, i], detect, at);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) findCredentials(doc, v, [...path, k], detect, at);
  }
}
