// The output ceiling policy sets for a call: the lowest cap of the key and its teams that matches the
// model. The gateway lowers the request's max tokens to it, so the budget reserves at most that.
import { globToRegExp } from '../policy/models.ts';
import type { OutputCap, ResolvedKey, Snapshot } from '../policy/snapshot.ts';

const compiled = new WeakMap<OutputCap, RegExp[] | null>();

function matches(cap: OutputCap, model: string): boolean {
  let res = compiled.get(cap);
  if (res === undefined) {
    res = cap.models === undefined || cap.models.length === 0 ? null : cap.models.map(globToRegExp);
    compiled.set(cap, res);
  }
  return res === null || res.some((re) => re.test(model));
}

/** The lowest matching cap across the owners' lists (key first, then teams), or undefined. */
export function outputCapFor(lists: readonly (readonly OutputCap[])[], model: string): number | undefined {
  let cap: number | undefined;
  for (const list of lists) {
    for (const c of list) {
      if (matches(c, model) && (cap === undefined || c.maxOutputTokens < cap)) cap = c.maxOutputTokens;
    }
  }
  return cap;
}

/** The cap of `key` and its teams for `model`, or undefined when none applies. */
export function keyOutputCap(snapshot: Snapshot, key: ResolvedKey, model: string): number | undefined {
  if (
    key.outputCaps.length === 0 &&
    key.teams.every((t) => (snapshot.teams.get(t)?.outputCaps.length ?? 0) === 0)
  ) {
    return undefined;
  }
  const lists: (readonly OutputCap[])[] = [key.outputCaps];
  for (const t of key.teams) {
    const team = snapshot.teams.get(t);
    if (team !== undefined) lists.push(team.outputCaps);
  }
  return outputCapFor(lists, model);
}

/**
 * The output a call may ask for: what it asked (else the model's own limit), lowered to the cap. A
 * count_tokens call (asked 0) stays 0.
 */
export function cappedOutputTokens(
  asked: number | undefined,
  modelMax: number | undefined,
  cap: number | undefined,
): number {
  const base = asked ?? modelMax ?? 0;
  if (cap === undefined || asked === 0) return base;
  return asked === undefined || asked > cap ? Math.min(cap, modelMax ?? cap) : asked;
}
