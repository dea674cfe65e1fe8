// What the gateway knows of each API's request shapes, to report what a new agent release sends that
// it does not: item and block types never seen, tool-bearing structures it cannot read, code-mode tools
// that may grant more than they list. The request scanner reads every string whatever the type; this
// list is for noticing that an API moved, before someone relies on it.
import type { Surface } from '../../policy/decision.ts';
import { findTools } from '../declared.ts';
import { arr, isObj } from '../shape.ts';

const KNOWN: Record<string, ReadonlySet<string>> = {
  'openai.responses.item': new Set([
    'message',
    'additional_tools',
    'function_call',
    'function_call_output',
    'custom_tool_call',
    'custom_tool_call_output',
    'local_shell_call',
    'local_shell_call_output',
    'shell_call',
    'shell_call_output',
    'apply_patch_call',
    'apply_patch_call_output',
    'reasoning',
    'compaction',
    'web_search_call',
    'mcp_call',
    'mcp_list_tools',
    'mcp_approval_request',
    'mcp_approval_response',
    'item_reference',
  ]),
  'openai.responses.part': new Set([
    'input_text',
    'output_text',
    'input_image',
    'input_file',
    'refusal',
    'summary_text',
  ]),
  'anthropic.block': new Set([
    'text',
    'image',
    'document',
    'search_result',
    'tool_use',
    'tool_result',
    'thinking',
    'redacted_thinking',
    'server_tool_use',
    'web_search_tool_result',
    'web_fetch_tool_result',
    'code_execution_tool_result',
    'mcp_tool_use',
    'mcp_tool_result',
    'container_upload',
  ]),
  'gemini.part': new Set([
    'text',
    'inlineData',
    'fileData',
    'functionCall',
    'functionResponse',
    'executableCode',
    'codeExecutionResult',
    'thought',
    'thoughtSignature',
    'videoMetadata',
  ]),
};

const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Shapes in a request body the gateway does not know, each as `where: what`. */
export function unrecognisedShapes(surface: Surface, body: unknown): string[] {
  const out: string[] = [];
  const note = (kind: string, type: unknown, path: string) => {
    if (typeof type === 'string' && !KNOWN[kind].has(type))
      out.push(`${path}: unknown ${kind.split('.').pop()} type ${type}`);
  };
  if (!isObj(body)) return out;
  if (surface === 'openai.responses') {
    arr(body.input).forEach((item, i) => {
      if (!isObj(item)) return;
      note('openai.responses.item', item.type ?? (item.role ? 'message' : undefined), `input[${i}]`);
      arr(item.content).forEach((p, j) => {
        if (isObj(p)) note('openai.responses.part', p.type, `input[${i}].content[${j}]`);
      });
    });
  } else if (surface === 'anthropic.messages' || surface === 'anthropic.count_tokens') {
    const blocks = (list: unknown, path: string) =>
      arr(list).forEach((b, j) => {
        if (!isObj(b)) return;
        note('anthropic.block', b.type, `${path}[${j}]`);
        if (Array.isArray(b.content)) blocks(b.content, `${path}[${j}].content`);
      });
    blocks(body.system, 'system');
    arr(body.messages).forEach((m, i) => {
      if (isObj(m)) blocks(m.content, `messages[${i}].content`);
    });
  } else if (surface === 'gemini.generate' || surface === 'gemini.count_tokens') {
    arr(body.contents).forEach((c, i) => {
      if (!isObj(c)) return;
      arr(c.parts).forEach((p, j) => {
        if (!isObj(p)) return;
        for (const k of Object.keys(p)) note('gemini.part', camel(k), `contents[${i}].parts[${j}]`);
      });
    });
  }
  const tools = findTools(surface, body);
  for (const u of tools.unreadable) out.push(`${u.path}: ${u.reason}`);
  for (const t of tools.tools)
    if (t.openEnded) out.push(`${t.path}: tool ${t.name} may grant tools its declaration does not list`);
  return out;
}

/** The API surface of a captured request path. */
export function surfaceOfPath(path: string): Surface | undefined {
  if (/\/messages\/count_tokens$/.test(path)) return 'anthropic.count_tokens';
  if (/\/v1\/messages$/.test(path)) return 'anthropic.messages';
  if (/\/responses$/.test(path)) return 'openai.responses';
  if (/\/chat\/completions$/.test(path)) return 'openai.chat';
  if (/:countTokens$/.test(path)) return 'gemini.count_tokens';
  if (/:(?:stream)?[gG]enerateContent$/.test(path)) return 'gemini.generate';
  return undefined;
}
