// GET /v1/models: the gateway answers itself with the OpenAI-format models this key may use.
import { globToRegExp } from '../policy/models.ts';
import type { ResolvedKey, Snapshot } from '../policy/snapshot.ts';

const globCache = new Map<string, RegExp>();

/** Policy model globs, as Rego's glob.match reads them without delimiters: `*` any run, `?` one character. */
export function globMatch(pattern: string, value: string): boolean {
  let re = globCache.get(pattern);
  if (re === undefined) {
    re = globToRegExp(pattern);
    if (globCache.size < 10_000) globCache.set(pattern, re);
  }
  return re.test(value);
}

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

export function listModels(snapshot: Snapshot, key: ResolvedKey | null): ModelObject[] {
  const created = Math.floor(snapshot.builtAt / 1000);
  const out: ModelObject[] = [];
  for (const provider of snapshot.providers.values()) {
    if (provider.api !== 'openai') continue;
    if (key !== null && key.providers.length > 0 && !key.providers.includes(provider.id)) continue;
    for (const id of provider.models.keys()) {
      if (key !== null && !key.models.some((g) => globMatch(g, id))) continue;
      out.push({ id, object: 'model', created, owned_by: provider.id });
    }
  }
  return out;
}
