// The agent's own tools wherever a request declares them, and removing the ones a tool scope denies.
//
// Where tools are declared, per API and agent:
//   anthropic.messages  `tools[]` (custom tools and server tools, each with a `name`), `mcp_servers[]`
//   openai.chat         `tools[]` (function / custom), legacy `functions[]`
//   openai.responses    `tools[]`, and Codex's `input[]` items of type `additional_tools`; both hold
//                       function / custom tools, `namespace` groups of them, remote `mcp` servers and
//                       built-in tools (named by their type: `local_shell`, `web_search`, …)
//   gemini.generate     `tools[]` entries: `functionDeclarations[]` and built-in tool fields
// A code-mode tool (code-mode.ts) also declares every tool its code can call. Anything else in a body
// that looks like a tool list, or a tool entry whose name cannot be read, is reported as unreadable:
// with a tool scope the call is refused rather than forwarded with tools nobody checked.
import type { Surface } from '../policy/decision.ts';
import { codeModeGrants } from './code-mode.ts';
import { arr, camelOf, geminiField, isObj, isToolSurface, type Json, str } from './shape.ts';

/** Header the gateway sets on a response when it removed tools from the request. */
export const TOOLS_STRIPPED_HEADER = 'x-portcullis-tools-stripped';

export interface DeclaredTool {
  /** The name the policy sees: the declared name, a built-in tool's type, a Gemini tool field. */
  name: string;
  /** Where it is declared, e.g. `input[0].tools[0].tools[2]`. */
  path: string;
  /** Other names it goes by (`namespace__name` for a tool in a namespace). */
  aliases?: string[];
  /** Tools it lets the model use besides itself: those a code-mode tool's code can call, a remote MCP server's tools. */
  grants?: string[];
  /** It may grant tools its declaration does not list (a code-mode tool with deferred tools, an MCP server with no allow list). */
  openEnded?: boolean;
}

export interface UnreadableTools {
  path: string;
  /** Why the gateway cannot tell which tools this is. */
  reason: string;
}

export interface ToolDeclarations {
  tools: DeclaredTool[];
  unreadable: UnreadableTools[];
}

const DEFAULT_NAMESPACE = 'functions';

interface Ctx {
  out: ToolDeclarations;
  /** Tool arrays read, so the sweep for tool lists elsewhere skips them. */
  read: Set<unknown>;
}

function add(ctx: Ctx, tool: DeclaredTool) {
  ctx.out.tools.push(tool);
}

function unreadable(ctx: Ctx, path: string, reason: string) {
  ctx.out.unreadable.push({ path, reason });
}

function withGrants(tool: DeclaredTool, description: unknown): DeclaredTool {
  const g = codeModeGrants(description);
  if (g === undefined) return tool;
  return { ...tool, grants: g.names, ...(g.openEnded ? { openEnded: true } : {}) };
}

/** The remote MCP server tool of the Responses API (`{type: "mcp", server_label, allowed_tools}`). */
function mcpServerTool(entry: Json, path: string, label: string | undefined): DeclaredTool {
  const allowed = isObj(entry.allowed_tools) ? entry.allowed_tools.tool_names : entry.allowed_tools;
  const names = Array.isArray(allowed)
    ? allowed.filter((n): n is string => typeof n === 'string')
    : undefined;
  const server = label ?? 'unnamed';
  return {
    name: 'mcp',
    path,
    aliases: [`mcp:${server}`],
    grants: names === undefined ? [`mcp:${server}/*`] : names.map((n) => `mcp:${server}/${n}`),
    ...(names === undefined ? { openEnded: true } : {}),
  };
}

/** One entry of a Responses (or Codex additional_tools) tool list. */
function responsesEntry(ctx: Ctx, entry: unknown, path: string, namespace: string | undefined) {
  if (!isObj(entry)) return unreadable(ctx, path, 'a tool entry that is not an object');
  const type = str(entry.type);
  if (type === 'namespace') {
    const ns = str(entry.name);
    if (ns === undefined || !Array.isArray(entry.tools))
      return unreadable(ctx, path, 'a tool namespace without a name or a tools list');
    ctx.read.add(entry.tools);
    entry.tools.forEach((t, i) => {
      responsesEntry(ctx, t, `${path}.tools[${i}]`, ns);
    });
    return;
  }
  if (type === 'mcp') return add(ctx, mcpServerTool(entry, path, str(entry.server_label)));
  if (type === 'function' || type === 'custom' || (type === undefined && str(entry.name))) {
    const name = str(entry.name);
    if (name === undefined) return unreadable(ctx, path, `a ${type ?? 'tool'} entry without a name`);
    const aliases =
      namespace !== undefined && namespace !== DEFAULT_NAMESPACE ? [`${namespace}__${name}`] : undefined;
    return add(ctx, withGrants({ name, path, ...(aliases ? { aliases } : {}) }, entry.description));
  }
  if (type !== undefined) return add(ctx, { name: type, path }); // a built-in tool, named by its type
  unreadable(ctx, path, 'a tool entry without a type or a name');
}

function responsesList(ctx: Ctx, list: unknown, path: string) {
  if (list === undefined) return;
  if (!Array.isArray(list)) return unreadable(ctx, path, 'a tools field that is not a list');
  ctx.read.add(list);
  for (const [i, t] of list.entries()) {
    responsesEntry(ctx, t, `${path}[${i}]`, undefined);
  }
}

function chatList(ctx: Ctx, list: unknown, path: string, legacy: boolean) {
  if (list === undefined) return;
  if (!Array.isArray(list)) return unreadable(ctx, path, 'a tools field that is not a list');
  ctx.read.add(list);
  for (const [i, t] of list.entries()) {
    const p = `${path}[${i}]`;
    if (!isObj(t)) {
      unreadable(ctx, p, 'a tool entry that is not an object');
      continue;
    }
    const fn = legacy ? t : isObj(t.function) ? t.function : isObj(t.custom) ? t.custom : undefined;
    const name = fn ? str(fn.name) : undefined;
    if (name !== undefined) {
      add(ctx, withGrants({ name, path: p }, fn?.description));
      continue;
    }
    if (!legacy && str(t.type) && t.type !== 'function' && t.type !== 'custom') {
      add(ctx, { name: t.type as string, path: p });
      continue;
    }
    unreadable(ctx, p, 'a tool entry without a name');
  }
}

function anthropic(ctx: Ctx, body: Json) {
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) unreadable(ctx, 'tools', 'a tools field that is not a list');
    else {
      ctx.read.add(body.tools);
      for (const [i, t] of body.tools.entries()) {
        const p = `tools[${i}]`;
        const name = isObj(t) ? str(t.name) : undefined;
        if (name === undefined) {
          unreadable(ctx, p, 'a tool entry without a name');
          continue;
        }
        add(ctx, withGrants({ name, path: p }, (t as Json).description));
      }
    }
  }
  // The MCP connector: the provider calls these servers itself.
  if (body.mcp_servers !== undefined) {
    if (!Array.isArray(body.mcp_servers))
      unreadable(ctx, 'mcp_servers', 'an mcp_servers field that is not a list');
    else {
      ctx.read.add(body.mcp_servers);
      for (const [i, s] of body.mcp_servers.entries()) {
        const p = `mcp_servers[${i}]`;
        if (!isObj(s)) {
          unreadable(ctx, p, 'an MCP server entry that is not an object');
          continue;
        }
        const config = isObj(s.tool_configuration) ? s.tool_configuration : {};
        add(ctx, mcpServerTool({ allowed_tools: config.allowed_tools }, p, str(s.name)));
      }
    }
  }
}

function gemini(ctx: Ctx, body: Json, prefix: string) {
  const tools = geminiField(body, 'tools');
  if (tools === undefined) return;
  const path = `${prefix}${tools.key}`;
  if (!Array.isArray(tools.value)) return unreadable(ctx, path, 'a tools field that is not a list');
  ctx.read.add(tools.value);
  for (const [i, entry] of tools.value.entries()) {
    const p = `${path}[${i}]`;
    if (!isObj(entry)) {
      unreadable(ctx, p, 'a tool entry that is not an object');
      continue;
    }
    for (const [k, v] of Object.entries(entry)) {
      if (camelOf(k) !== 'functionDeclarations') {
        add(ctx, { name: camelOf(k), path: `${p}.${k}` });
        continue;
      }
      if (!Array.isArray(v)) {
        unreadable(ctx, `${p}.${k}`, 'function declarations that are not a list');
        continue;
      }
      ctx.read.add(v);
      v.forEach((d, j) => {
        const name = isObj(d) ? str(d.name) : undefined;
        if (name === undefined) unreadable(ctx, `${p}.${k}[${j}]`, 'a function declaration without a name');
        else add(ctx, withGrants({ name, path: `${p}.${k}[${j}]` }, (d as Json).description));
      });
    }
  }
}

// Keys under which a tool list may sit, and subtrees that hold data rather than declarations (tool
// inputs and results, JSON schemas, metadata), where a key named `tools` means nothing.
const TOOL_LIST_KEYS = new Set([
  'tools',
  'functions',
  'functionDeclarations',
  'function_declarations',
  'mcp_servers',
  'mcpServers',
]);
const DATA_KEYS = new Set([
  'input_schema',
  'inputSchema',
  'parameters',
  'parametersJsonSchema',
  'properties',
  'schema',
  'responseSchema',
  'response_format',
  '$defs',
  'definitions',
  'args',
  'response',
  'functionCall',
  'functionResponse',
  'function_call',
  'function_response',
  'metadata',
  'client_metadata',
  'output',
  'content',
  'arguments',
  'allowed_tools',
  'tool_choice',
  'toolConfig',
  'tool_config',
]);

/** Tool lists in places the readers above do not cover: unreadable, so never silently forwarded. */
// The sweep visits every object of every request: it keeps the path as a stack of segments and
// renders it only for a finding, so a long history costs no strings.
function sweep(ctx: Ctx, v: unknown, at: (string | number)[], depth: number) {
  if (depth > 64) return;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x !== 'object' || x === null) continue;
      at.push(i);
      sweep(ctx, x, at, depth + 1);
      at.pop();
    }
    return;
  }
  const o = v as Json;
  for (const k in o) {
    const x = o[k];
    if (typeof x !== 'object' || x === null) continue;
    if (TOOL_LIST_KEYS.has(k) && !ctx.read.has(x)) {
      unreadable(ctx, pathOf(at, k), `a ${k} list where this API does not declare tools`);
      continue;
    }
    if (DATA_KEYS.has(k) || ctx.read.has(x)) continue;
    at.push(k);
    sweep(ctx, x, at, depth + 1);
    at.pop();
  }
}

/** `a.b[0].c` for the segments `at` followed by the key `last`. */
function pathOf(at: readonly (string | number)[], last: string): string {
  let p = '';
  for (const seg of [...at, last]) p = typeof seg === 'number' ? `${p}[${seg}]` : p ? `${p}.${seg}` : seg;
  return p;
}

/** Every tool a request declares, and the tool-bearing structures in it the gateway cannot read. */
export function findTools(surface: Surface, body: unknown): ToolDeclarations {
  const ctx: Ctx = { out: { tools: [], unreadable: [] }, read: new Set() };
  if (!isObj(body) || !isToolSurface(surface)) return ctx.out;
  switch (surface) {
    case 'anthropic.messages':
      anthropic(ctx, body);
      break;
    case 'openai.chat':
      chatList(ctx, body.tools, 'tools', false);
      chatList(ctx, body.functions, 'functions', true);
      break;
    case 'openai.responses':
      responsesList(ctx, body.tools, 'tools');
      arr(body.input).forEach((item, i) => {
        if (isObj(item) && item.type === 'additional_tools')
          responsesList(ctx, item.tools, `input[${i}].tools`);
      });
      break;
    case 'gemini.generate':
      gemini(ctx, body, '');
      break;
  }
  sweep(ctx, body, [], 0);
  return ctx.out;
}

/** Every name a declared tool goes by, its grants included: what the policy checks against a scope. */
export function toolNames(tool: DeclaredTool): string[] {
  return [tool.name, ...(tool.aliases ?? []), ...(tool.grants ?? [])];
}

/** The names the policy sees (`input.tools`): each declared tool, its aliases and what it grants. */
export function declaredTools(surface: Surface, body: unknown): string[] {
  return [...new Set(findTools(surface, body).tools.flatMap(toolNames))];
}

/** Whether a tool must go when the policy strips `drop`: it, an alias, or a tool it grants is denied. */
function dropped(tool: DeclaredTool, drop: ReadonlySet<string>): boolean {
  return toolNames(tool).some((n) => drop.has(n));
}

/** A copy of `body` without the named tools, its tool choice still valid. The input is not changed. */
export function stripTools<T>(surface: Surface, body: T, names: Iterable<string>): T {
  return stripToolsReport(surface, body, names).body;
}

/**
 * `stripTools`, also saying which declared tools were removed — a code-mode tool goes with the tools
 * its code can call, so `removed` may name tools the policy did not list.
 */
export function stripToolsReport<T>(
  surface: Surface,
  body: T,
  names: Iterable<string>,
): { body: T; removed: string[] } {
  const drop = new Set(names);
  if (drop.size === 0 || !isObj(body) || !isToolSurface(surface)) return { body, removed: [] };
  const found = findTools(surface, body).tools;
  const gone = found.filter((t) => dropped(t, drop));
  if (gone.length === 0) return { body, removed: [] };
  const removed = new Set(gone.map((t) => t.name));
  // Every name of a removed tool, so each entry and tool choice naming one goes.
  const all = new Set([...drop, ...gone.flatMap((t) => [t.name, ...(t.aliases ?? [])])]);
  const out: Json = { ...body };
  switch (surface) {
    case 'anthropic.messages':
      stripAnthropic(out, all);
      break;
    case 'openai.chat':
      stripChat(out, all);
      break;
    case 'openai.responses':
      stripResponses(out, all, gone);
      break;
    case 'gemini.generate':
      stripGemini(out, all);
      break;
  }
  return { body: out as T, removed: [...removed] };
}

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

function stripAnthropic(out: Json, drop: Set<string>): void {
  if (Array.isArray(out.mcp_servers)) {
    out.mcp_servers = out.mcp_servers.filter(
      (s) => !(isObj(s) && drop.has(`mcp:${str(s.name) ?? 'unnamed'}`)),
    );
    if ((out.mcp_servers as unknown[]).length === 0) delete out.mcp_servers;
  }
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
    out.tools = out.tools.filter((t) => !drop.has(chatToolName(t) ?? (isObj(t) ? (t.type as string) : '')));
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

/** A Responses tool list without the removed entries, recursing into namespaces (dropped when emptied). */
function filterResponsesList(list: unknown[], gonePaths: Set<string>, path: string): unknown[] {
  const kept: unknown[] = [];
  for (const [i, t] of list.entries()) {
    const p = `${path}[${i}]`;
    if (gonePaths.has(p)) continue;
    if (isObj(t) && t.type === 'namespace' && Array.isArray(t.tools)) {
      const inner = filterResponsesList(t.tools, gonePaths, `${p}.tools`);
      if (inner.length > 0) kept.push({ ...t, tools: inner });
      continue;
    }
    kept.push(t);
  }
  return kept;
}

function stripResponses(out: Json, drop: Set<string>, gone: DeclaredTool[]): void {
  const gonePaths = new Set(gone.map((t) => t.path));
  if (Array.isArray(out.input)) {
    const input: unknown[] = [];
    out.input.forEach((item, i) => {
      if (isObj(item) && item.type === 'additional_tools' && Array.isArray(item.tools)) {
        const tools = filterResponsesList(item.tools, gonePaths, `input[${i}].tools`);
        // Kept in place even when empty would shift nothing; an empty list is dropped.
        if (tools.length > 0) input.push({ ...item, tools });
        return;
      }
      input.push(item);
    });
    out.input = input;
  }
  if (!Array.isArray(out.tools)) return;
  out.tools = filterResponsesList(out.tools, gonePaths, 'tools');
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
      if (camelOf(k) === 'functionDeclarations') {
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

/**
 * Whether a call of `name` in the model's answer must be refused: the scope denies it (`denied`), the
 * gateway removed it from the request, or it is a code-mode tool declared here whose code could call a
 * denied tool.
 */
export function callDenied(
  declarations: ToolDeclarations,
  removed: readonly string[],
  denied: (name: string) => boolean,
): (name: string) => boolean {
  const gone = new Set(removed);
  const byName = new Map<string, DeclaredTool>();
  for (const t of declarations.tools) for (const n of [t.name, ...(t.aliases ?? [])]) byName.set(n, t);
  return (name) => {
    if (gone.has(name) || denied(name)) return true;
    const tool = byName.get(name);
    return tool?.grants?.some(denied) ?? false;
  };
}
