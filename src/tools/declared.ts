// The agent's own tools as each API declares them, and removing the ones a tool scope denies.
// Names: the declared `name` of function/custom tools; built-in tools by their type (OpenAI
// Responses: `local_shell`, `web_search`, …) or their field (Gemini: `googleSearch`, `codeExecution`).
import type { Surface } from '../policy/decision.ts';
import { arr, camelOf, geminiField, isObj, isToolSurface, type Json, str } from './shape.ts';

/** Header the gateway sets on a response when it removed tools from the request. */
export const TOOLS_STRIPPED_HEADER = 'x-portcullis-tools-stripped';

function chatToolName(t: unknown): string | undefined {
  if (!isObj(t)) return undefined;
  if (isObj(t.function)) return str(t.function.name);
  if (isObj(t.custom)) return str(t.custom.name);
  return undefined;
}

function responsesToolName(t: unknown): string | undefined {
  if (!isObj(t)) return undefined;
  if (t.type === 'function' || t.type === 'custom') return str(t.name);
  return str(t.type);
}

const GEMINI_DECLS = 'functionDeclarations';

/** Names in one Gemini `tools[]` entry: its function declarations and its built-in tool fields. */
function geminiEntryNames(entry: unknown): string[] {
  if (!isObj(entry)) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(entry)) {
    if (camelOf(k) === GEMINI_DECLS)
      for (const d of arr(v)) out.push(...(isObj(d) && str(d.name) ? [d.name as string] : []));
    else out.push(camelOf(k));
  }
  return out;
}

export function declaredTools(surface: Surface, body: unknown): string[] {
  if (!isObj(body) || !isToolSurface(surface)) return [];
  const names: (string | undefined)[] = [];
  switch (surface) {
    case 'anthropic.messages':
      for (const t of arr(body.tools)) names.push(isObj(t) ? str(t.name) : undefined);
      break;
    case 'openai.chat':
      for (const t of arr(body.tools)) names.push(chatToolName(t));
      for (const f of arr(body.functions)) names.push(isObj(f) ? str(f.name) : undefined);
      break;
    case 'openai.responses':
      for (const t of arr(body.tools)) names.push(responsesToolName(t));
      break;
    case 'gemini.generate':
      for (const e of arr(body.tools)) names.push(...geminiEntryNames(e));
      break;
  }
  return [...new Set(names.filter((n): n is string => n !== undefined))];
}

/** A copy of `body` without the named tools, its tool choice still valid. The input is not changed. */
export function stripTools<T>(surface: Surface, body: T, names: Iterable<string>): T {
  const drop = new Set(names);
  if (drop.size === 0 || !isObj(body) || !isToolSurface(surface)) return body;
  const out: Json = { ...body };
  switch (surface) {
    case 'anthropic.messages':
      stripAnthropic(out, drop);
      break;
    case 'openai.chat':
      stripChat(out, drop);
      break;
    case 'openai.responses':
      stripResponses(out, drop);
      break;
    case 'gemini.generate':
      stripGemini(out, drop);
      break;
  }
  return out as T;
}

function stripAnthropic(out: Json, drop: Set<string>): void {
  if (!Array.isArray(out.tools)) return;
  out.tools = out.tools.filter((t) => !(isObj(t) && drop.has(t.name as string)));
  const choice = out.tool_choice;
  if (!isObj(choice)) return;
  const left = (out.tools as unknown[]).length;
  if (choice.type === 'tool' && drop.has(choice.name as string)) {
    const { name: _n, ...rest } = choice;
    out.tool_choice = { ...rest, type: 'auto' };
  }
  // `any` with nothing left to pick is an API error; the request may still carry earlier tool_use blocks.
  if (left === 0 && isObj(out.tool_choice) && out.tool_choice.type !== 'none') delete out.tool_choice;
}

function stripChat(out: Json, drop: Set<string>): void {
  if (Array.isArray(out.tools)) {
    out.tools = out.tools.filter((t) => !drop.has(chatToolName(t) ?? ''));
    const choice = out.tool_choice;
    if (isObj(choice) && drop.has(chatToolName(choice) ?? '')) out.tool_choice = 'auto';
    if (isObj(choice) && choice.type === 'allowed_tools' && isObj(choice.allowed_tools)) {
      const tools = arr(choice.allowed_tools.tools).filter((t) => !drop.has(chatToolName(t) ?? ''));
      out.tool_choice = tools.length
        ? { ...choice, allowed_tools: { ...choice.allowed_tools, tools } }
        : 'auto';
    }
    // OpenAI rejects an empty tools array, and tool_choice / parallel_tool_calls without tools.
    if ((out.tools as unknown[]).length === 0) {
      delete out.tools;
      delete out.tool_choice;
      delete out.parallel_tool_calls;
    }
  }
  if (Array.isArray(out.functions)) {
    out.functions = out.functions.filter((f) => !(isObj(f) && drop.has(f.name as string)));
    if (isObj(out.function_call) && drop.has(out.function_call.name as string)) out.function_call = 'auto';
    if ((out.functions as unknown[]).length === 0) {
      delete out.functions;
      delete out.function_call;
    }
  }
}

function stripResponses(out: Json, drop: Set<string>): void {
  if (!Array.isArray(out.tools)) return;
  out.tools = out.tools.filter((t) => !drop.has(responsesToolName(t) ?? ''));
  const choice = out.tool_choice;
  if (isObj(choice)) {
    if (choice.type === 'allowed_tools') {
      const tools = arr(choice.tools).filter((t) => !drop.has(responsesToolName(t) ?? ''));
      out.tool_choice = tools.length ? { ...choice, tools } : 'auto';
    } else if (drop.has(responsesToolName(choice) ?? '')) {
      out.tool_choice = 'auto';
    }
  }
  if ((out.tools as unknown[]).length === 0) {
    delete out.tools;
    delete out.tool_choice;
    delete out.parallel_tool_calls;
  }
}

function stripGemini(out: Json, drop: Set<string>): void {
  const tools = geminiField(out, 'tools');
  if (!tools || !Array.isArray(tools.value)) return;
  const entries: Json[] = [];
  for (const e of tools.value) {
    if (!isObj(e)) continue;
    const kept: Json = {};
    for (const [k, v] of Object.entries(e)) {
      if (camelOf(k) === GEMINI_DECLS) {
        const decls = arr(v).filter((d) => !(isObj(d) && drop.has(d.name as string)));
        if (decls.length) kept[k] = decls;
      } else if (!drop.has(camelOf(k))) {
        kept[k] = v;
      }
    }
    if (Object.keys(kept).length) entries.push(kept);
  }
  const config = geminiField(out, 'toolConfig');
  if (entries.length === 0) {
    delete out[tools.key];
    if (config) delete out[config.key];
    return;
  }
  out[tools.key] = entries;
  if (!config || !isObj(config.value)) return;
  const fcc = geminiField(config.value, 'functionCallingConfig');
  if (!fcc || !isObj(fcc.value)) return;
  const allowed = geminiField(fcc.value, 'allowedFunctionNames');
  if (!allowed || !Array.isArray(allowed.value)) return;
  const names = allowed.value.filter((n) => !drop.has(n as string));
  const nextFcc: Json = { ...fcc.value, [allowed.key]: names };
  if (names.length === 0) {
    delete nextFcc[allowed.key];
    // ANY restricted to names that are all gone would otherwise widen to every remaining function.
    const mode = geminiField(nextFcc, 'mode');
    if (mode && mode.value === 'ANY') nextFcc[mode.key] = 'AUTO';
  }
  out[config.key] = { ...config.value, [fcc.key]: nextFcc };
}
