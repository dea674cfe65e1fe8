// Where the text is: request bodies and non-streamed response bodies are walked whole (walk.ts, with
// the per-format, per-direction skip lists of skip-lists.ts), so what a client sends and what it
// receives is all scanned; stream events carry their text deltas at the paths those texts have in
// the non-streamed response (`choices[0].message.content`).
import type { Surface } from '../policy/decision.ts';
import { skipListFor } from './skip-lists.ts';
import { isObj, type Sink, type SlotTable, walkBody } from './walk.ts';

export { childPath, type PathRef, type Slot, type Visit, walkValue } from './walk.ts';

const EMPTY: unknown[] = [];
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : EMPTY);

// ---- Entry points -------------------------------------------------------------------------------

/**
 * Visits every text of a request body the provider will see: every string, except the fields the
 * surface's skip list names (skip-lists.ts).
 */
export function walkRequest(surface: Surface, body: unknown, visit: Sink | SlotTable): void {
  walkBody(body, skipListFor(surface), visit);
}

/**
 * Visits every text of a non-streamed response body the client receives: every string, except the
 * fields the surface's response skip list names (skip-lists.ts). An output item or block type an API
 * adds is read the day it appears.
 */
export function walkResponse(surface: Surface, body: unknown, visit: Sink | SlotTable): void {
  walkBody(body, skipListFor(surface, 'response'), visit);
}

/** One piece of streamed text and where it belongs (the path it has in the non-streamed response). */
export interface TextDelta {
  path: string;
  text: string;
}

/** The text deltas carried by one parsed SSE event (its `data:` JSON) of a streamed response. */
export function streamDeltas(surface: Surface, event: unknown): TextDelta[] {
  const out: TextDelta[] = [];
  if (!isObj(event)) return out;
  const add = (path: string, text: unknown) => {
    if (typeof text === 'string' && text.length > 0) out.push({ path, text });
  };
  const num = (v: unknown, fallback: number) => (typeof v === 'number' ? v : fallback);
  switch (surface) {
    case 'openai.chat':
      arr(event.choices).forEach((c, i) => {
        if (!isObj(c) || !isObj(c.delta)) return;
        const base = `choices[${num(c.index, i)}].message`;
        add(`${base}.content`, c.delta.content);
        add(`${base}.refusal`, c.delta.refusal);
        arr(c.delta.tool_calls).forEach((tc, k) => {
          if (isObj(tc) && isObj(tc.function))
            add(`${base}.tool_calls[${num(tc.index, k)}].function.arguments`, tc.function.arguments);
        });
      });
      break;
    case 'openai.responses': {
      const item = `output[${num(event.output_index, 0)}]`;
      switch (event.type) {
        case 'response.output_text.delta':
          add(`${item}.content[${num(event.content_index, 0)}].text`, event.delta);
          break;
        case 'response.refusal.delta':
          add(`${item}.content[${num(event.content_index, 0)}].refusal`, event.delta);
          break;
        case 'response.function_call_arguments.delta':
        case 'response.mcp_call_arguments.delta':
          add(`${item}.arguments`, event.delta);
          break;
        case 'response.custom_tool_call_input.delta':
          add(`${item}.input`, event.delta);
          break;
        case 'response.reasoning_summary_text.delta':
          add(`${item}.summary[${num(event.summary_index, 0)}].text`, event.delta);
          break;
      }
      break;
    }
    case 'anthropic.messages': {
      const block = `content[${num(event.index, 0)}]`;
      if (
        event.type === 'content_block_start' &&
        isObj(event.content_block) &&
        event.content_block.type === 'text'
      )
        add(`${block}.text`, event.content_block.text);
      if (event.type === 'content_block_delta' && isObj(event.delta)) {
        const d = event.delta;
        if (d.type === 'text_delta') add(`${block}.text`, d.text);
        else if (d.type === 'input_json_delta') add(`${block}.input`, d.partial_json);
        else if (d.type === 'thinking_delta') add(`${block}.thinking`, d.thinking);
      }
      break;
    }
    case 'gemini.generate':
      arr(event.candidates).forEach((c, i) => {
        if (!isObj(c) || !isObj(c.content)) return;
        const base = `candidates[${num(c.index, i)}].content`;
        arr(c.content.parts).forEach((part, j) => {
          if (!isObj(part)) return;
          add(`${base}.parts[${j}].text`, part.text);
          for (const k of ['functionCall', 'function_call'])
            if (isObj(part[k]) && part[k].args !== undefined)
              add(`${base}.parts[${j}].${k}.args`, JSON.stringify(part[k].args));
        });
      });
      break;
    default:
      break;
  }
  return out;
}
