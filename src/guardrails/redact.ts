// Redaction: a new body in the surface's own shape with each finding replaced by `[REDACTED:<rule>]`.
// Values inside JSON-in-a-string fields (tool-call arguments) are rewritten in the parsed document,
// which is then serialised again, so the field stays valid JSON.
import type { GuardrailFinding, Surface } from '../policy/decision.ts';
import { jsonLeaves } from './json-text.ts';
import { walkRequest, walkResponse } from './surfaces.ts';
import type { ScanFinding } from './types.ts';
import { decodeText, encodeText, type Slot } from './walk.ts';

/** Returns a copy of a request body with the findings' text replaced; the input is not modified. */
export function redactRequest<T>(
  surface: Surface,
  body: T,
  findings: readonly (ScanFinding | GuardrailFinding)[],
): T {
  return redact(walkRequest, surface, body, findings);
}

/** The same for a non-streamed response body. */
export function redactResponse<T>(
  surface: Surface,
  body: T,
  findings: readonly (ScanFinding | GuardrailFinding)[],
): T {
  return redact(walkResponse, surface, body, findings);
}

function redact<T>(
  walk: typeof walkRequest,
  surface: Surface,
  body: T,
  findings: readonly (ScanFinding | GuardrailFinding)[],
): T {
  const byPath = new Map<string, ScanFinding[]>();
  const add = (f: ScanFinding) => {
    const list = byPath.get(f.path) ?? [];
    list.push(f);
    byPath.set(f.path, list);
  };
  for (const f of findings as ScanFinding[]) {
    if (f.path === '$') continue;
    // A credential split across adjacent texts is redacted in each of them.
    if (f.parts !== undefined) for (const p of f.parts) add({ ...f, ...p, parts: undefined });
    else add(f);
  }
  const copy = structuredClone(body);
  if (byPath.size === 0) return copy;
  walk(surface, copy, (slot: Slot) => {
    const stored = slot.holder[slot.prop] as string;
    const text = slot.decode === undefined ? stored : decodeText(stored, slot.decode);
    const direct = byPath.get(slot.path);
    if (direct) {
      const redacted = applyRedactions(text, direct);
      slot.holder[slot.prop] =
        slot.decode === undefined ? redacted : encodeText(stored, redacted, slot.decode);
      return;
    }
    if (!slot.json) return;
    const parsed = jsonLeaves(text);
    if (!parsed) return;
    let changed = false;
    for (const leaf of parsed.leaves) {
      const fs = byPath.get(`${slot.path}${leaf.sub}`);
      if (!fs) continue;
      leaf.slot.holder[leaf.slot.prop] = applyRedactions(leaf.text, fs);
      changed = true;
    }
    if (changed) slot.holder[slot.prop] = JSON.stringify(parsed.root.$);
  });
  return copy;
}

/**
 * Replaces each finding's span with `[REDACTED:<rule>]`; overlapping spans merge under the first rule.
 * A finding without a usable span (external verdicts about a whole text, or offsets that do not fit
 * this text) replaces the whole text.
 */
export function applyRedactions(text: string, findings: readonly ScanFinding[]): string {
  const spans: { start: number; end: number; rule: string }[] = [];
  for (const f of findings) {
    const { start, end } = f;
    if (start === undefined || end === undefined || !(start >= 0 && end <= text.length && start < end)) {
      return `[REDACTED:${f.rule}]`;
    }
    spans.push({ start, end, rule: f.rule });
  }
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: typeof spans = [];
  for (const s of spans) {
    const last = merged[merged.length - 1];
    if (last && s.start < last.end) last.end = Math.max(last.end, s.end);
    else merged.push({ ...s });
  }
  let out = '';
  let at = 0;
  for (const s of merged) {
    out += `${text.slice(at, s.start)}[REDACTED:${s.rule}]`;
    at = s.end;
  }
  return out + text.slice(at);
}
