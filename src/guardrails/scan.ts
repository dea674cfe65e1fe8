// Running a compiled chain over a request or a non-streamed response body.
//
// Every step runs, in order, even after an earlier step asked to block: the Rego policy makes the
// final call and may, for instance, only block on some rules, so it needs all findings. External
// steps run concurrently with each other; their findings still come out in step order.
import type { Surface } from '../policy/decision.ts';
import { type CacheEntry, signatureSlot } from './cache.ts';
import type { CompiledChain, CompiledStep } from './compile.ts';
import { runExternal } from './external.ts';
import { finding, sizeFindings } from './findings.ts';
import { type JoinMatch, joinAt, joinable, joinMatches } from './join.ts';
import { jsonLeaves, keyedOnly, scanJson } from './json-text.ts';
import { scanText, type View, views } from './normalise.ts';
import { walkRequest, walkResponse } from './surfaces.ts';
import type { Match, ScanFinding, Stage } from './types.ts';
import { SlotTable } from './walk.ts';

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

/**
 * Scans everything the provider will see in a request body. Answered synchronously unless a step of
 * the chain calls an external service (then a promise); `await` takes either.
 */
export function scanRequest(
  chain: CompiledChain,
  surface: Surface,
  body: unknown,
): ScanResult | Promise<ScanResult> {
  return scanBody(chain, 'request', surface, body);
}

/** Scans a non-streamed response body; synchronous unless a step calls out, as scanRequest. */
export function scanResponse(
  chain: CompiledChain,
  surface: Surface,
  body: unknown,
): ScanResult | Promise<ScanResult> {
  return scanBody(chain, 'response', surface, body);
}

interface Plan {
  text: CompiledStep[];
  /** The cache slot of each text step's detector signature. */
  slots: number[];
  /** Text steps whose detector reads across adjacent texts. */
  seams: CompiledStep[];
  seamSlots: number[];
  /** The cache entry of each text of the last body this plan scanned, by place. */
  lastEntries: (CacheEntry | undefined)[];
  size: CompiledStep[];
  external: CompiledStep[];
  count: number;
}

const plans = new WeakMap<CompiledChain, Record<Stage, Plan>>();

function planOf(chain: CompiledChain, stage: Stage): Plan {
  let p = plans.get(chain);
  if (!p) {
    const make = (st: Stage): Plan => {
      const steps = chain.steps.filter((s) => s.stages.has(st));
      const text = steps.filter((s) => s.text !== undefined);
      return {
        text,
        slots: text.map((s) => signatureSlot(s.text!.signature)),
        seams: steps.filter((s) => s.text?.seam !== undefined),
        lastEntries: [],
        seamSlots: steps
          .filter((s) => s.text?.seam !== undefined)
          .map((s) => signatureSlot(s.text!.signature)),
        size: steps.filter((s) => s.size !== undefined),
        external: steps.filter((s) => s.external !== undefined),
        count: steps.length,
      };
    };
    p = { request: make('request'), response: make('response') };
    plans.set(chain, p);
  }
  return p[stage];
}

/** Adds `f` to the findings of step `index`, making the per-step lists on the first finding. */
function put(
  lists: ScanFinding[][] | undefined,
  chain: CompiledChain,
  index: number,
  f: ScanFinding,
): ScanFinding[][] {
  if (lists === undefined) {
    lists = [];
    for (let i = 0; i < chain.steps.length; i++) lists.push([]);
  }
  lists[index].push(f);
  return lists;
}

const NO_ERRORS: StepError[] = Object.freeze([]) as unknown as StepError[];
const NO_FINDINGS: ScanFinding[] = Object.freeze([]) as unknown as ScanFinding[];
const CLEAN: ScanResult = Object.freeze({ findings: NO_FINDINGS, errors: NO_ERRORS }) as ScanResult;

function scanBody(
  chain: CompiledChain,
  stage: Stage,
  surface: Surface,
  body: unknown,
): ScanResult | Promise<ScanResult> {
  const plan = planOf(chain, stage);
  if (plan.count === 0) return CLEAN;
  const t = SlotTable.acquire();
  try {
    (stage === 'request' ? walkRequest : walkResponse)(surface, body, t);
    return scanTable(chain, plan, stage, surface, t);
  } finally {
    SlotTable.release(t);
  }
}

/** Per text of the table being scanned: 1 when it is known to be ASCII (scanTable's scratch). */
let asciiScratch = new Uint8Array(256);

/** Scans the texts of a walked body; reads the table only synchronously. */
function scanTable(
  chain: CompiledChain,
  plan: Plan,
  stage: Stage,
  surface: Surface,
  t: SlotTable,
): ScanResult | Promise<ScanResult> {
  const n = t.count;
  // Findings per step, by the step's index in the chain, so they come out in step order; made on the
  // first finding only (most calls have none).
  let perStep: ScanFinding[][] | undefined;

  const cache = chain.cache;
  const sizing = plan.size.length > 0;
  const textSteps = plan.text;
  const slots = plan.slots;
  const seamSteps = plan.seams;
  const seamSlots = plan.seamSlots;
  const lastEntries = plan.lastEntries;
  const texts = t.texts;
  const entries = t.extra as (CacheEntry | undefined)[];
  let totalBytes = 0;
  if (asciiScratch.length < n) asciiScratch = new Uint8Array(Math.max(n, 2 * asciiScratch.length));
  const ascii = asciiScratch;
  // Index loops and no allocation on a cache hit: this loop runs over the whole history on every
  // call, and nearly every text is a hit.
  if (textSteps.length > 0 || sizing) {
    let previous: CacheEntry | undefined;
    for (let i = 0; i < n; i++) {
      let text = texts[i];
      if (text === undefined) {
        text = t.text(i);
        texts[i] = text;
      }
      entries[i] = undefined;
      ascii[i] = 0;
      if (text.length === 0) {
        lastEntries[i] = undefined;
        continue;
      }
      let entry: CacheEntry | undefined;
      if (cache !== undefined) {
        // The text at this place in the last body scanned, the text that followed the previous one
        // last time (a history resent with other conversations' calls in between), or a lookup.
        entry = cache.confirm(lastEntries[i], text);
        if (entry === undefined && previous !== undefined) entry = cache.follow(previous, text);
        entry ??= cache.lookup(text);
      }
      // UTF-8 length: for size limits, and equal to the length only for ASCII text (no invisibles).
      let utf8 = entry === undefined ? -1 : (entry.utf8 ?? -1);
      let vs: readonly View[] | undefined;
      const json = t.json(i);
      const key = t.key[i];
      for (let s = 0; s < textSteps.length; s++) {
        const step = textSteps[s];
        const det = step.text!;
        const slot = slots[s];
        let matches = entry === undefined ? undefined : entry.bySlot[slot];
        if (matches === undefined) {
          if (json) matches = scanJson(det, text);
          else {
            if (vs === undefined) {
              if (utf8 < 0) utf8 = Buffer.byteLength(text, 'utf8');
              vs = views(text, utf8 === text.length);
            }
            matches = scanText(det, text, vs);
          }
          if (cache) entry = cache.store(text, det.signature, matches, entry);
        }
        if (matches.length > 0) {
          const path = t.path(i);
          for (let k = 0; k < matches.length; k++) {
            const m = matches[k];
            const f = finding(chain, step, stage, m.sub ? `${path}${m.sub}` : path, m);
            perStep = put(perStep, chain, step.index, f);
          }
        }
        if (key !== undefined && det.scanKeyed) {
          let keyed: Match[];
          if (entry !== undefined && entry.keyedKey === key && entry.keyedSlot === slot)
            keyed = entry.keyedMatches!;
          else {
            keyed = keyedOnly(det, key, text, matches);
            if (entry !== undefined) {
              entry.keyedKey = key;
              entry.keyedSlot = slot;
              entry.keyedMatches = keyed;
            }
          }
          for (let k = 0; k < keyed.length; k++)
            perStep = put(perStep, chain, step.index, finding(chain, step, stage, t.path(i), keyed[k]));
        }
      }
      entries[i] = entry;
      lastEntries[i] = entry;
      if (previous !== undefined && entry !== undefined && previous.follower !== entry) {
        // The seams with the former follower are kept by that entry (followerSeams and joins are
        // kept this way round because nearly every seam is with the follower: a first scan then
        // makes no map per seam).
        if (previous.follower !== undefined && previous.followerSeams !== undefined) {
          previous.joins ??= new WeakMap();
          previous.joins.set(previous.follower, previous.followerSeams);
        }
        previous.follower = entry;
        previous.followerSeams = previous.joins?.get(entry);
      }
      previous = entry;
      if (sizing) {
        if (utf8 < 0) utf8 = Buffer.byteLength(text, 'utf8');
        totalBytes += utf8;
      }
      if (entry !== undefined && utf8 >= 0) entry.utf8 = utf8;
      ascii[i] = utf8 === text.length ? 1 : 0;
    }
    if (lastEntries.length > n) lastEntries.length = n;
    // Adjacent texts read as one: a credential split across two messages or blocks is found too.
    for (let i = 0; seamSteps.length > 0 && i + 1 < n; i++) {
      const a = texts[i]!;
      const b = texts[i + 1]!;
      if (!joinable(a, b)) continue;
      const ea = entries[i];
      const eb = entries[i + 1];
      for (let s = 0; s < seamSteps.length; s++) {
        const step = seamSteps[s];
        const det = step.text!;
        const follows = ea !== undefined && eb !== undefined && ea.follower === eb;
        const slot = seamSlots[s];
        let joined: JoinMatch[] | undefined;
        if (follows) joined = ea.followerSeams?.[slot];
        else if (ea !== undefined && eb !== undefined) joined = ea.joins?.get(eb)?.[slot];
        if (joined === undefined) {
          // Two ASCII texts make an ASCII joint: joinMatches need not measure it.
          joined = joinMatches(det, a, b, ascii[i] === 1 && ascii[i + 1] === 1);
          if (follows) rememberSeam(ea, slot, joined);
          else if (ea !== undefined && eb !== undefined) {
            ea.joins ??= new WeakMap();
            let per = ea.joins.get(eb);
            if (per === undefined) {
              per = [];
              ea.joins.set(eb, per);
            }
            per[slot] = joined;
          }
        }
        for (let k = 0; k < joined.length; k++) {
          const f = joinAt(chain, step, stage, t.path(i), t.path(i + 1), a, b, joined[k]);
          perStep = put(perStep, chain, step.index, f);
        }
      }
    }
  }
  for (const step of plan.size)
    for (const f of sizeFindings(chain, step, stage, totalBytes))
      perStep = put(perStep, chain, step.index, f);

  if (plan.external.length === 0)
    return perStep === undefined ? CLEAN : { findings: perStep.flat(), errors: NO_ERRORS };
  const errors: StepError[] = [];
  const leaves = leafTexts(t);
  return Promise.all(
    plan.external.map(async (step) => {
      const r = await runExternal(chain, step, stage, surface, leaves);
      for (const f of r.findings) perStep = put(perStep, chain, step.index, f);
      if (r.error) errors.push(r.error);
    }),
  ).then(() => ({ findings: perStep === undefined ? [] : perStep.flat(), errors }));
}

/** Keeps the matches across the seam between `e` and its follower, for the detector in `slot`. */
function rememberSeam(e: CacheEntry, slot: number, joined: JoinMatch[]): void {
  e.followerSeams ??= [];
  e.followerSeams[slot] = joined;
}

function leafTexts(t: SlotTable): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  for (let i = 0; i < t.count; i++) {
    const text = t.text(i);
    const parsed = t.json(i) ? jsonLeaves(text) : undefined;
    if (parsed) for (const l of parsed.leaves) out.push({ path: `${t.path(i)}${l.sub}`, text: l.text });
    else if (text.length > 0) out.push({ path: t.path(i), text });
  }
  return out;
}
