// Running a compiled chain over a request or a non-streamed response body.
//
// Every step runs, in order, even after an earlier step asked to block: the Rego policy makes the
// final call and may, for instance, only block on some rules, so it needs all findings. External
// steps run concurrently with each other; their findings still come out in step order.
import type { Surface } from '../policy/decision.ts';
import type { CacheEntry } from './cache.ts';
import type { CompiledChain, CompiledStep } from './compile.ts';
import { callExternal } from './external.ts';
import { type Slot, walkRequest, walkResponse, walkValue } from './surfaces.ts';
import type { Match, ScanFinding, Stage, TextDetector } from './types.ts';

export interface StepError {
  step: number;
  detector: string;
  /** What went wrong; never contains scanned text. */
  message: string;
}

export interface ScanResult {
  findings: ScanFinding[];
  /** Steps that could not run (external service down in fail-open mode, …), for logs. */
  errors: StepError[];
}

/** Scans everything the provider will see in a request body. */
export function scanRequest(chain: CompiledChain, surface: Surface, body: unknown): Promise<ScanResult> {
  return scanBody(chain, 'request', surface, body);
}

/** Scans a non-streamed response body. */
export function scanResponse(chain: CompiledChain, surface: Surface, body: unknown): Promise<ScanResult> {
  return scanBody(chain, 'response', surface, body);
}

interface Plan {
  text: CompiledStep[];
  size: CompiledStep[];
  external: CompiledStep[];
  /** Position of each step in the chain's step list filtered to the stage. */
  slot: Map<CompiledStep, number>;
  count: number;
}

const plans = new WeakMap<CompiledChain, Record<Stage, Plan>>();

function planOf(chain: CompiledChain, stage: Stage): Plan {
  let p = plans.get(chain);
  if (!p) {
    const make = (st: Stage): Plan => {
      const steps = chain.steps.filter((s) => s.stages.has(st));
      return {
        text: steps.filter((s) => s.text !== undefined),
        size: steps.filter((s) => s.size !== undefined),
        external: steps.filter((s) => s.external !== undefined),
        slot: new Map(steps.map((s, i) => [s, i])),
        count: steps.length,
      };
    };
    p = { request: make('request'), response: make('response') };
    plans.set(chain, p);
  }
  return p[stage];
}

async function scanBody(
  chain: CompiledChain,
  stage: Stage,
  surface: Surface,
  body: unknown,
): Promise<ScanResult> {
  const plan = planOf(chain, stage);
  const errors: StepError[] = [];
  if (plan.count === 0) return { findings: [], errors };
  const slots: Slot[] = [];
  (stage === 'request' ? walkRequest : walkResponse)(surface, body, (s) => {
    slots.push(s);
  });
  const perStep: ScanFinding[][] = [];
  for (let i = 0; i < plan.count; i++) perStep.push([]);

  const cache = chain.cache;
  const sizing = plan.size.length > 0;
  let totalBytes = 0;
  if (plan.text.length > 0 || sizing) {
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i];
      const text = slot.holder[slot.prop] as string;
      if (text.length === 0) continue;
      let entry: CacheEntry | undefined = cache?.lookup(text);
      for (const step of plan.text) {
        const det = step.text!;
        let matches = entry?.results.get(det.signature);
        if (matches === undefined) {
          matches = slot.json ? scanJson(det, text) : det.scan(text);
          if (cache) entry = cache.store(text, det.signature, matches, entry);
        }
        const into = perStep[plan.slot.get(step)!];
        for (const m of matches)
          into.push(finding(chain, step, stage, m.sub ? `${slot.path}${m.sub}` : slot.path, m));
        if (slot.key !== undefined && det.scanKeyed) {
          for (const m of keyedOnly(det, slot.key, text, matches))
            into.push(finding(chain, step, stage, slot.path, m));
        }
      }
      if (sizing) {
        if (entry !== undefined) {
          entry.utf8 ??= Buffer.byteLength(text, 'utf8');
          totalBytes += entry.utf8;
        } else {
          totalBytes += Buffer.byteLength(text, 'utf8');
        }
      }
    }
  }
  for (const step of plan.size)
    perStep[plan.slot.get(step)!].push(...sizeFindings(chain, step, stage, totalBytes));

  if (plan.external.length > 0) {
    const leaves = leafTexts(slots);
    await Promise.all(
      plan.external.map(async (step) => {
        const r = await runExternal(chain, step, stage, surface, leaves);
        perStep[plan.slot.get(step)!].push(...r.findings);
        if (r.error) errors.push(r.error);
      }),
    );
  }
  return { findings: perStep.length === 1 ? perStep[0] : perStep.flat(), errors };
}

export function finding(
  chain: CompiledChain,
  step: CompiledStep,
  stage: Stage,
  path: string,
  m: Match,
): ScanFinding {
  return {
    rule: m.rule,
    type: m.type,
    stage,
    path,
    action: step.action,
    fingerprint: m.fingerprint,
    chain: chain.name,
    step: step.index,
    start: m.start,
    end: m.end,
  };
}

/** Findings of a size step for `bytes` of text (tokens estimated as ceil(bytes / 4)). */
export function sizeFindings(
  chain: CompiledChain,
  step: CompiledStep,
  stage: Stage,
  bytes: number,
): ScanFinding[] {
  const out: ScanFinding[] = [];
  const { maxBytes, maxTokens } = step.size!;
  const add = (rule: string) =>
    out.push({
      rule,
      type: 'size',
      stage,
      path: '$',
      action: step.action,
      fingerprint: chain.fingerprint(`size:${rule}`),
      chain: chain.name,
      step: step.index,
    });
  if (maxBytes !== undefined && bytes > maxBytes) add('max_bytes');
  if (maxTokens !== undefined && Math.ceil(bytes / 4) > maxTokens) add('max_tokens');
  return out;
}

/** Parses a JSON-in-a-string field and scans each string value in it; falls back to the raw text. */
export function scanJson(det: TextDetector, raw: string): Match[] {
  const parsed = jsonLeaves(raw);
  if (parsed === undefined) return det.scan(raw);
  const out: Match[] = [];
  for (const leaf of parsed.leaves) {
    const found = det.scan(leaf.text);
    for (const m of found) out.push({ ...m, sub: leaf.sub });
    if (leaf.key !== undefined && det.scanKeyed)
      for (const m of keyedOnly(det, leaf.key, leaf.text, found)) out.push({ ...m, sub: leaf.sub });
  }
  return out;
}

/** Key-aware hits (`{"api_key": "…"}`) that no text rule already reported on the same characters. */
function keyedOnly(det: TextDetector, key: string, text: string, found: readonly Match[]): Match[] {
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

function leafTexts(slots: Slot[]): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  for (const slot of slots) {
    const text = slot.holder[slot.prop] as string;
    const parsed = slot.json ? jsonLeaves(text) : undefined;
    if (parsed) for (const l of parsed.leaves) out.push({ path: `${slot.path}${l.sub}`, text: l.text });
    else if (text.length > 0) out.push({ path: slot.path, text });
  }
  return out;
}

export async function runExternal(
  chain: CompiledChain,
  step: CompiledStep,
  stage: Stage,
  surface: string,
  texts: { path: string; text: string }[],
): Promise<{ findings: ScanFinding[]; error?: StepError }> {
  const cfg = step.external!;
  try {
    const verdicts = await callExternal(
      cfg,
      { chain: chain.name, step: step.index, stage, surface, texts },
      chain.env,
      chain.dispatcher,
    );
    const byPath = new Map(texts.map((t) => [t.path, t.text]));
    return {
      findings: verdicts.map((v) => {
        const text = byPath.get(v.path)!;
        const start = v.start ?? 0;
        const end = v.end ?? text.length;
        return finding(chain, step, stage, v.path, {
          rule: v.rule,
          type: 'external',
          start,
          end,
          fingerprint: chain.fingerprint(text.slice(start, end)),
        });
      }),
    };
  } catch (err) {
    const error: StepError = {
      step: step.index,
      detector: 'external',
      message: `external guardrail ${cfg.url}: ${(err as Error).message}`,
    };
    if (cfg.failMode === 'open') return { findings: [], error };
    return {
      findings: [
        {
          rule: 'external_unavailable',
          type: 'external',
          stage,
          path: '$',
          action: 'block',
          fingerprint: chain.fingerprint(`external_unavailable:${cfg.url}`),
          chain: chain.name,
          step: step.index,
        },
      ],
      error,
    };
  }
}
