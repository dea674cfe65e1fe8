// The output ceiling policy sets for a call: the lowest cap of the key and its teams that matches the
// model. The gateway lowers the request's max tokens to it, so the budget reserves at most that.
import { globToRegExp } from '../policy/models.ts';
import type { OutputCap } from '../policy/snapshot.ts';

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
