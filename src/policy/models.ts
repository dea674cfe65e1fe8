// Model ids as clients send them, matched against policy globs and provider price lists.

/** Glob as Rego's glob.match sees it with no delimiters: `*` any run, `?` one character. */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/**
 * The id of the price entry serving `model`: the exact id, else the longest listed id that the
 * requested one extends with a `-suffix` (dated snapshots such as `claude-sonnet-4-5-20250929`).
 */
export function pricedModelId(models: ReadonlyMap<string, unknown>, model: string): string | undefined {
  if (models.has(model)) return model;
  let best: string | undefined;
  for (const id of models.keys()) {
    if (model.startsWith(`${id}-`) && (!best || id.length > best.length)) best = id;
  }
  return best;
}
