// Where the text is: request bodies and non-streamed response bodies are walked whole (walk.ts, with
// the per-format, per-direction skip lists of skip-lists.ts), so what a client sends and what it
// receives is all scanned; stream events carry their text deltas at the paths those texts have in
// the non-streamed response (`choices[0].message.content`).
import type { Surface } from '../policy/decision.ts';
import { skipListFor } from './skip-lists.ts';
import { isObj, type SlotTable, type Visit, walkBody } from './walk.ts';

export { childPath, type PathRef, type Slot, type Visit, walkValue } from './walk.ts';

const FUNCTION_CALL = ['functionCall', 'function_call'];

const EMPTY: unknown[] = [];
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : EMPTY);

// ---- Entry points -------------------------------------------------------------------------------

/**
 * Visits every text of a request body the provider will see: every string, except the fields the
 * surface's skip list names (skip-lists.ts).
 */
export function walkRequest(surface: Surface, body: unknown, visit: Visit | SlotTable): void {
  walkBody(body, skipListFor(surface), visit);
}

/**
 * Visits every text of a non-streamed response body the client receives: every string, except the
 * fields the surface's response skip list names (skip-lists.ts). An output item or block type an API
 * adds is read the day it appears.
 */
export function walkResponse(surface: Surface, body: unknown, visit: Visit | SlotTable): void {
  walkBody(body, skipListFor(surface, 'response'), visit);
}

/** One piece of streamed text and where it belongs (the path it has in the non-streamed response). */
export interface TextDelta {
  path: string;
  text: string;
}

const NO_DELTAS: TextDelta[] = Object.freeze([]) as unknown as TextDelta[];

/**
 * Paths of streamed texts, memoised by index: a stream's every event names the same few paths, and
 * building them anew per event was most of what reading an event cost.
 */
class PathMemo {
  readonly #make: (i: number, j: number) => string;
  readonly #known = new Map<number, string>();
  constructor(make: (i: number, j: number) => string) {
    this.#make = make;
  }
  get(i: number, j = 0): string {
    if (!Number.isSafeInteger(i) || !Number.isSafeInteger(j) || i < 0 || j < 0 || i > 0xffff || j > 0xffff)
      return this.#make(i, j);
    const k = i * 0x10000 + j;
    let p = this.#known.get(k);
    if (p === undefined) {
      p = this.#make(i, j);
      if (this.#known.size < 4096) this.#known.set(k, p);
    }
    return p;
  }
}

const CHAT_CONTENT = new PathMemo((i) => `choices[${i}].message.content`);
const CHAT_REFUSAL = new PathMemo((i) => `choices[${i}].message.refusal`);
const CHAT_ARGUMENTS = new PathMemo((i, k) => `choices[${i}].message.tool_calls[${k}].function.arguments`);
const RESPONSES_TEXT = new PathMemo((i, j) => `output[${i}].content[${j}].text`);
const RESPONSES_REFUSAL = new PathMemo((i, j) => `output[${i}].content[${j}].refusal`);
const RESPONSES_ARGUMENTS = new PathMemo((i) => `output[${i}].arguments`);
const RESPONSES_INPUT = new PathMemo((i) => `output[${i}].input`);
const RESPONSES_SUMMARY = new PathMemo((i, j) => `output[${i}].summary[${j}].text`);
const ANTHROPIC_TEXT = new PathMemo((i) => `content[${i}].text`);
const ANTHROPIC_INPUT = new PathMemo((i) => `content[${i}].input`);
const ANTHROPIC_THINKING = new PathMemo((i) => `content[${i}].thinking`);
const GEMINI_TEXT = new PathMemo((i, j) => `candidates[${i}].content.parts[${j}].text`);

/** Adds a delta when `text` is a non-empty string; returns the list (made on the first delta). */
function add(out: TextDelta[] | undefined, path: string, text: unknown): TextDelta[] | undefined {
  if (typeof text !== 'string' || text.length === 0) return out;
  if (out === undefined) return [{ path, text }];
  out.push({ path, text });
  return out;
}

const num = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);

/** The text deltas carried by one parsed SSE event (its `data:` JSON) of a streamed response. */
export function streamDeltas(surface: Surface, event: unknown): TextDelta[] {
  if (!isObj(event)) return NO_DELTAS;
  let out: TextDelta[] | undefined;
  switch (surface) {
    case 'openai.chat': {
      const choices = arr(event.choices);
      for (let i = 0; i < choices.length; i++) {
        const c = choices[i];
        if (!isObj(c) || !isObj(c.delta)) continue;
        const n = num(c.index, i);
        out = add(out, CHAT_CONTENT.get(n), c.delta.content);
        out = add(out, CHAT_REFUSAL.get(n), c.delta.refusal);
        const calls = arr(c.delta.tool_calls);
        for (let k = 0; k < calls.length; k++) {
          const tc = calls[k];
          if (isObj(tc) && isObj(tc.function))
            out = add(out, CHAT_ARGUMENTS.get(n, num(tc.index, k)), tc.function.arguments);
        }
      }
      break;
    }
    case 'openai.responses': {
      const item = num(event.output_index, 0);
      switch (event.type) {
        case 'response.output_text.delta':
          out = add(out, RESPONSES_TEXT.get(item, num(event.content_index, 0)), event.delta);
          break;
        case 'response.refusal.delta':
          out = add(out, RESPONSES_REFUSAL.get(item, num(event.content_index, 0)), event.delta);
          break;
        case 'response.function_call_arguments.delta':
        case 'response.mcp_call_arguments.delta':
          out = add(out, RESPONSES_ARGUMENTS.get(item), event.delta);
          break;
        case 'response.custom_tool_call_input.delta':
          out = add(out, RESPONSES_INPUT.get(item), event.delta);
          break;
        case 'response.reasoning_summary_text.delta':
          out = add(out, RESPONSES_SUMMARY.get(item, num(event.summary_index, 0)), event.delta);
          break;
      }
      break;
    }
    case 'anthropic.messages': {
      const block = num(event.index, 0);
      if (
        event.type === 'content_block_start' &&
        isObj(event.content_block) &&
        event.content_block.type === 'text'
      )
        out = add(out, ANTHROPIC_TEXT.get(block), event.content_block.text);
      if (event.type === 'content_block_delta' && isObj(event.delta)) {
        const d = event.delta;
        if (d.type === 'text_delta') out = add(out, ANTHROPIC_TEXT.get(block), d.text);
        else if (d.type === 'input_json_delta') out = add(out, ANTHROPIC_INPUT.get(block), d.partial_json);
        else if (d.type === 'thinking_delta') out = add(out, ANTHROPIC_THINKING.get(block), d.thinking);
      }
      break;
    }
    case 'gemini.generate': {
      const candidates = arr(event.candidates);
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[i];
        if (!isObj(c) || !isObj(c.content)) continue;
        const n = num(c.index, i);
        const parts = arr(c.content.parts);
        for (let j = 0; j < parts.length; j++) {
          const part = parts[j];
          if (!isObj(part)) continue;
          out = add(out, GEMINI_TEXT.get(n, j), part.text);
          for (const k of FUNCTION_CALL)
            if (isObj(part[k]) && part[k].args !== undefined)
              out = add(out, `candidates[${n}].content.parts[${j}].${k}.args`, JSON.stringify(part[k].args));
        }
      }
      break;
    }
    default:
      break;
  }
  return out ?? NO_DELTAS;
}
