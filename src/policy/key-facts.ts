// A virtual key as the Rego policy sees it (never its hash). Every caller that builds a decision
// input — inference, MCP, replay — uses this one mapping, so policies see the same facts everywhere.
import type { KeyFacts } from './decision.ts';
import type { ResolvedKey } from './snapshot.ts';

const factsCache = new WeakMap<ResolvedKey, KeyFacts>();

/** Cached per resolved key, which is immutable for the life of its snapshot. */
export function keyFacts(key: ResolvedKey): KeyFacts {
  let facts = factsCache.get(key);
  if (facts === undefined) {
    facts = {
      id: key.id,
      owner: key.owner,
      team: key.team,
      teams: key.teams,
      providers: key.providers,
      models: key.models,
      toolScope: key.toolScope,
      guardrailChain: key.guardrailChain,
      labels: key.labels,
      kind: key.principal?.kind ?? 'static',
    };
    const person = key.principal;
    if (person !== undefined) {
      facts.subject = person.subject;
      facts.groups = person.groups;
      facts.idp = person.idp;
      if (person.email !== undefined) facts.email = person.email;
    }
    factsCache.set(key, facts);
  }
  return facts;
}
