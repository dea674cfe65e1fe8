// Watches a model's SSE stream, one parsed event at a time, and reports the first call of a denied
// tool as soon as its name appears — before its arguments stream out — so the gateway can end the
// stream with the surface's error event (errors.ts) instead of forwarding the call.
//
// Per surface, the event that names a tool call:
//   anthropic.messages  content_block_start with content_block.type tool_use / server_tool_use
//   openai.chat         choices[].delta.tool_calls[].function.name (sent whole, in the call's first chunk)
//   openai.responses    response.output_item.added with a function_call / custom_tool_call / built-in call item
//   gemini.generate     candidates[].content.parts[].functionCall (each chunk is a full response object)
import type { Surface } from '../policy/decision.ts';
import { type DeniedToolCall, geminiCalls, responsesItemToolNames } from './calls.ts';
import { arr, type DeniedSet, deniedPredicate, isObj, isToolSurface, type Json, str } from './shape.ts';

/** An SSE event as the gateway's parser yields it; `data` may be text or already parsed. */
export interface ToolWatchEvent {
  event?: string;
  data: unknown;
}

export interface ToolCallWatcher {
  /** Feed the next event; returns the denied call it reveals, if any. */
  push(event: ToolWatchEvent): DeniedToolCall | undefined;
  /** The first denied call seen so far. */
  readonly denied: DeniedToolCall | undefined;
}

function parse(data: unknown): Json | undefined {
  if (isObj(data)) return data;
  if (typeof data !== 'string' || data === '' || data === '[DONE]') return undefined;
  try {
    const v: unknown = JSON.parse(data);
    return isObj(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Candidate tool names (and id) of a call this event starts, or undefined. */
function callsIn(surface: Surface, event: string, d: Json): { names: string[]; id?: string }[] {
  switch (surface) {
    case 'anthropic.messages': {
      const type = event || (d.type as string);
      const b = d.content_block;
      if (
        type === 'content_block_start' &&
        isObj(b) &&
        (b.type === 'tool_use' || b.type === 'server_tool_use')
      ) {
        return str(b.name) ? [{ names: [b.name as string], id: str(b.id) }] : [];
      }
      return [];
    }
    case 'openai.chat': {
      const out: { names: string[]; id?: string }[] = [];
      for (const c of arr(d.choices)) {
        if (!isObj(c) || !isObj(c.delta)) continue;
        for (const call of arr(c.delta.tool_calls)) {
          if (!isObj(call)) continue;
          const fn = isObj(call.function) ? call.function : isObj(call.custom) ? call.custom : undefined;
          if (fn && str(fn.name)) out.push({ names: [fn.name as string], id: str(call.id) });
        }
        const legacy = c.delta.function_call;
        if (isObj(legacy) && str(legacy.name)) out.push({ names: [legacy.name as string] });
      }
      return out;
    }
    case 'openai.responses': {
      const type = (d.type as string) || event;
      if (type !== 'response.output_item.added') return [];
      const names = responsesItemToolNames(d.item);
      const item = isObj(d.item) ? d.item : {};
      return names.length ? [{ names, id: str(item.call_id) ?? str(item.id) }] : [];
    }
    case 'gemini.generate':
      return geminiCalls(d).map((c) => ({ names: [c.name], id: c.id }));
    default:
      return [];
  }
}

export function createToolCallWatcher(surface: Surface, denied: DeniedSet): ToolCallWatcher {
  const isDenied = deniedPredicate(denied);
  let first: DeniedToolCall | undefined;
  return {
    get denied() {
      return first;
    },
    push(ev) {
      if (!isToolSurface(surface)) return undefined;
      const d = parse(ev.data);
      if (d === undefined) return undefined;
      for (const call of callsIn(surface, ev.event ?? '', d)) {
        const name = call.names.find(isDenied);
        if (name === undefined) continue;
        const hit: DeniedToolCall = call.id === undefined ? { name } : { name, id: call.id };
        first ??= hit;
        return hit;
      }
      return undefined;
    },
  };
}
