// Text carried as a JSON document inside a string (OpenAI tool-call arguments): scanned value by value,
// so a path can name the value (`….arguments.command`) and redaction can rewrite it and re-serialise.
import { scanText } from './normalise.ts';
import type { Match, TextDetector } from './types.ts';
import { type Slot, walkValue } from './walk.ts';

/** Parses a JSON-in-a-string field and scans each string value in it; falls back to the raw text. */
export function scanJson(det: TextDetector, raw: string): Match[] {
  const parsed = jsonLeaves(raw);
  if (parsed === undefined) return scanText(det, raw);
  const out: Match[] = [];
  for (const leaf of parsed.leaves) {
    const found = scanText(det, leaf.text);
    for (const m of found) out.push({ ...m, sub: leaf.sub });
    if (leaf.key !== undefined && det.scanKeyed)
      for (const m of keyedOnly(det, leaf.key, leaf.text, found)) out.push({ ...m, sub: leaf.sub });
  }
  return out;
}

/** Key-aware hits (`{"api_key": "…"}`) that no text rule already reported on the same characters. */
export function keyedOnly(det: TextDetector, key: string, text: string, found: readonly Match[]): Match[] {
  const keyed = det.scanKeyed!(key, text);
  if (keyed.length === 0 || found.length === 0) return keyed;
  return keyed.filter((k) => !found.some((m) => m.sub === undefined && k.start < m.end && m.start < k.end));
}

export interface JsonLeaf {
  /** Path inside the document: `.command`, `[0].name`. */
  sub: string;
  text: string;
  key?: string;
  slot: Slot;
}

/**
 * The string values inside a JSON object or array carried as a string, with their slots in the parsed
 * `root.$` (so redaction can rewrite them and re-serialise); undefined when it is not one.
 */
export function jsonLeaves(raw: string): { root: { $: unknown }; leaves: JsonLeaf[] } | undefined {
  const first = raw.trimStart()[0];
  if (first !== '{' && first !== '[') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const root = { $: parsed };
  const out: JsonLeaf[] = [];
  walkValue(
    (slot) => {
      out.push({
        sub: slot.path.slice(1),
        text: slot.holder[slot.prop] as string,
        key: slot.key === '$' ? undefined : slot.key,
        slot,
      });
    },
    root,
    '$',
    '$',
  );
  return { root, leaves: out };
}
