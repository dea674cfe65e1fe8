// Tool calls in model output that the key's scope denies. The gateway strips denied tools from the
// request, but a model may still call one (from earlier context, or a hallucinated name): these find
// such calls in a complete response (here) or as a stream goes by (stream.ts).
import type { Surface } from '../policy/decision.ts';
import {
  arr,
  type DeniedSet,
  deniedPredicate,
  geminiField,
  isObj,
  isToolSurface,
  type Json,
  RESPONSES_CALL_TOOLS,
  str,
} from './shape.ts';

export interface DeniedToolCall {
  /** The tool's name as the policy sees it (declared name, or built-in tool type). */
  name: string;
  /** The call id when the API gives one. */
  id?: string;
}

/** Tool names a Responses output item is a call of: its name, or the built-in tool types it may come from. */
export function responsesItemToolNames(item: unknown): string[] {
  if (!isObj(item)) return [];
  if (item.type === 'function_call' || item.type === 'custom_tool_call')
    return str(item.name) ? [item.name as string] : [];
  return [...(RESPONSES_CALL_TOOLS[item.type as string] ?? [])];
}

function chatCallName(call: unknown): string | undefined {
  if (!isObj(call)) return undefined;
  if (isObj(call.function)) return str(call.function.name);
  if (isObj(call.custom)) return str(call.custom.name);
  return undefined;
}

/** Function-call parts of a Gemini response (or stream chunk). */
export function geminiCalls(body: Json): DeniedToolCall[] {
  const out: DeniedToolCall[] = [];
  for (const c of arr(body.candidates)) {
    if (!isObj(c) || !isObj(c.content)) continue;
    for (const p of arr(c.content.parts)) {
      if (!isObj(p)) continue;
      const fc = geminiField(p, 'functionCall')?.value;
      if (isObj(fc) && str(fc.name)) out.push({ name: fc.name as string, id: str(fc.id) });
      if (geminiField(p, 'executableCode')) out.push({ name: 'codeExecution' });
    }
  }
  return out;
}

/** Every tool call in a non-streaming response, as candidate names per call. */
function toolCalls(surface: Surface, body: Json): { names: string[]; id?: string }[] {
  const out: { names: string[]; id?: string }[] = [];
  switch (surface) {
    case 'anthropic.messages':
      for (const b of arr(body.content)) {
        if (isObj(b) && (b.type === 'tool_use' || b.type === 'server_tool_use') && str(b.name)) {
          out.push({ names: [b.name as string], id: str(b.id) });
        }
      }
      break;
    case 'openai.chat':
      for (const c of arr(body.choices)) {
        if (!isObj(c) || !isObj(c.message)) continue;
        for (const call of arr(c.message.tool_calls)) {
          const name = chatCallName(call);
          if (name) out.push({ names: [name], id: isObj(call) ? str(call.id) : undefined });
        }
        const legacy = c.message.function_call;
        if (isObj(legacy) && str(legacy.name)) out.push({ names: [legacy.name as string] });
      }
      break;
    case 'openai.responses':
      for (const item of arr(body.output)) {
        const names = responsesItemToolNames(item);
        if (names.length && isObj(item)) out.push({ names, id: str(item.call_id) ?? str(item.id) });
      }
      break;
    case 'gemini.generate':
      for (const c of geminiCalls(body)) out.push({ names: [c.name], id: c.id });
      break;
  }
  return out;
}

/** Calls in a complete (non-streaming) response body of a tool the key may not use. */
export function findDeniedToolCalls(
  surface: Surface,
  responseBody: unknown,
  denied: DeniedSet,
): DeniedToolCall[] {
  if (!isObj(responseBody) || !isToolSurface(surface)) return [];
  const isDenied = deniedPredicate(denied);
  const found: DeniedToolCall[] = [];
  for (const call of toolCalls(surface, responseBody)) {
    const name = call.names.find(isDenied);
    if (name !== undefined) found.push(call.id === undefined ? { name } : { name, id: call.id });
  }
  return found;
}
