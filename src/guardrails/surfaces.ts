// Where the text is in each API surface's request and response bodies: everything the model provider
// will see or has produced, with a path per text (`messages[3].content[0].text`). Images, audio and
// files (base64 `image_url` data, `inlineData`, `source.data` of images and PDFs) are not text and are
// skipped. Anthropic thinking blocks sent back in a request are skipped too: they are signed, and
// changing them would make the provider reject the call.
//
// The walkers hand out the object holding each string and its property, so the same walk serves
// scanning (read it) and redaction (write it).
import type { Surface } from '../policy/decision.ts';

export interface Slot {
  /** Path of the text in the body. */
  path: string;
  holder: Record<string | number, unknown>;
  prop: string | number;
  /** The object key the text sits under, for key-aware checks (`{"password": "…"}`). */
  key?: string;
  /** The text is a JSON document encoded as a string (OpenAI tool-call arguments). */
  json?: boolean;
}

export type Visit = (slot: Slot) => void;

type Obj = Record<string | number, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null;
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** `a.b`, or `a["b-c"]` when the key is not an identifier. */
export function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

function str(visit: Visit, holder: unknown, prop: string | number, path: string, json?: boolean) {
  if (isObj(holder) && typeof holder[prop] === 'string')
    visit(json ? { path, holder, prop, json } : { path, holder, prop });
}

const MAX_DEPTH = 64;

/** Every string inside a structured value (tool inputs, function-call arguments, function responses). */
export function walkValue(
  visit: Visit,
  holder: Obj,
  prop: string | number,
  path: string,
  key?: string,
  depth = 0,
) {
  const v = holder[prop];
  if (typeof v === 'string') {
    visit({ path, holder, prop, key });
    return;
  }
  if (depth >= MAX_DEPTH || !isObj(v)) return;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++)
      walkValue(visit, v as unknown as Obj, i, childPath(path, i), key, depth + 1);
  } else {
    for (const k of Object.keys(v)) walkValue(visit, v, k, childPath(path, k), k, depth + 1);
  }
}

// ---- OpenAI Chat Completions --------------------------------------------------------------------

function openaiContent(visit: Visit, msg: Obj, path: string) {
  if (typeof msg.content === 'string') str(visit, msg, 'content', `${path}.content`);
  else
    arr(msg.content).forEach((part, j) => {
      if (!isObj(part)) return;
      const p = `${path}.content[${j}]`;
      str(visit, part, 'text', `${p}.text`);
      str(visit, part, 'refusal', `${p}.refusal`);
    });
}

function openaiChatMessage(visit: Visit, msg: unknown, path: string) {
  if (!isObj(msg)) return;
  openaiContent(visit, msg, path);
  str(visit, msg, 'refusal', `${path}.refusal`);
  arr(msg.tool_calls).forEach((tc, k) => {
    if (isObj(tc) && isObj(tc.function))
      str(visit, tc.function, 'arguments', `${path}.tool_calls[${k}].function.arguments`, true);
    if (isObj(tc) && isObj(tc.custom))
      str(visit, tc.custom, 'input', `${path}.tool_calls[${k}].custom.input`);
  });
  if (isObj(msg.function_call))
    str(visit, msg.function_call, 'arguments', `${path}.function_call.arguments`, true);
}

// ---- OpenAI Responses ---------------------------------------------------------------------------

function responsesItem(visit: Visit, item: unknown, path: string) {
  if (!isObj(item)) return;
  const type = item.type;
  if (type === 'message' || (type === undefined && 'role' in item)) {
    openaiContent(visit, item, path);
  } else if (type === 'function_call' || type === 'mcp_call') {
    str(visit, item, 'arguments', `${path}.arguments`, true);
    str(visit, item, 'output', `${path}.output`);
  } else if (type === 'custom_tool_call') {
    str(visit, item, 'input', `${path}.input`);
  } else if (
    type === 'function_call_output' ||
    type === 'custom_tool_call_output' ||
    type === 'local_shell_call_output' ||
    type === 'shell_call_output'
  ) {
    if (typeof item.output === 'string') str(visit, item, 'output', `${path}.output`);
    else
      arr(item.output).forEach((part, j) => {
        if (isObj(part)) str(visit, part, 'text', `${path}.output[${j}].text`);
      });
  } else if (type === 'reasoning') {
    arr(item.summary).forEach((s, j) => {
      if (isObj(s)) str(visit, s, 'text', `${path}.summary[${j}].text`);
    });
  }
}

// ---- Anthropic Messages -------------------------------------------------------------------------

function anthropicBlock(visit: Visit, block: unknown, path: string, response: boolean) {
  if (!isObj(block)) return;
  switch (block.type) {
    case 'text':
      str(visit, block, 'text', `${path}.text`);
      break;
    case 'tool_use':
    case 'server_tool_use':
    case 'mcp_tool_use':
      if ('input' in block) walkValue(visit, block, 'input', `${path}.input`);
      break;
    case 'tool_result':
    case 'mcp_tool_result':
      if (typeof block.content === 'string') str(visit, block, 'content', `${path}.content`);
      else {
        const parts = arr(block.content);
        for (let k = 0; k < parts.length; k++)
          anthropicBlock(visit, parts[k], `${path}.content[${k}]`, response);
      }
      break;
    case 'document':
      if (isObj(block.source) && block.source.type === 'text')
        str(visit, block.source, 'data', `${path}.source.data`);
      break;
    case 'thinking':
      if (response) str(visit, block, 'thinking', `${path}.thinking`);
      break;
  }
}

function anthropicRequest(visit: Visit, body: Obj) {
  if (typeof body.system === 'string') str(visit, body, 'system', 'system');
  else {
    const system = arr(body.system);
    for (let i = 0; i < system.length; i++) anthropicBlock(visit, system[i], `system[${i}]`, false);
  }
  // Plain loops rather than forEach: this runs once per call, and a loop lets V8 optimise it within
  // the first calls instead of after hundreds.
  const messages = arr(body.messages);
  for (let i = 0; i < messages.length; i++) {
    const msg = messages[i];
    if (!isObj(msg)) continue;
    if (typeof msg.content === 'string') {
      str(visit, msg, 'content', `messages[${i}].content`);
      continue;
    }
    const blocks = arr(msg.content);
    for (let j = 0; j < blocks.length; j++)
      anthropicBlock(visit, blocks[j], `messages[${i}].content[${j}]`, false);
  }
}

// ---- Gemini -------------------------------------------------------------------------------------

function geminiParts(visit: Visit, content: unknown, path: string) {
  if (!isObj(content)) return;
  arr(content.parts).forEach((part, j) => {
    if (!isObj(part)) return;
    const p = `${path}.parts[${j}]`;
    str(visit, part, 'text', `${p}.text`);
    for (const k of ['functionCall', 'function_call'])
      if (isObj(part[k])) walkValue(visit, part[k], 'args', `${p}.${k}.args`);
    for (const k of ['functionResponse', 'function_response'])
      if (isObj(part[k])) walkValue(visit, part[k], 'response', `${p}.${k}.response`);
    for (const k of ['executableCode', 'executable_code'])
      if (isObj(part[k])) str(visit, part[k], 'code', `${p}.${k}.code`);
    for (const k of ['codeExecutionResult', 'code_execution_result'])
      if (isObj(part[k])) str(visit, part[k], 'output', `${p}.${k}.output`);
  });
}

function geminiRequest(visit: Visit, body: Obj, prefix: string) {
  for (const k of ['systemInstruction', 'system_instruction']) {
    if (typeof body[k] === 'string') str(visit, body, k, `${prefix}${k}`);
    else geminiParts(visit, body[k], `${prefix}${k}`);
  }
  arr(body.contents).forEach((c, i) => {
    geminiParts(visit, c, `${prefix}contents[${i}]`);
  });
}

// ---- Entry points -------------------------------------------------------------------------------

/** Visits every text of a request body the provider will see. */
export function walkRequest(surface: Surface, body: unknown, visit: Visit): void {
  if (!isObj(body)) return;
  switch (surface) {
    case 'openai.chat':
      arr(body.messages).forEach((m, i) => {
        openaiChatMessage(visit, m, `messages[${i}]`);
      });
      break;
    case 'openai.responses':
      str(visit, body, 'instructions', 'instructions');
      if (typeof body.input === 'string') str(visit, body, 'input', 'input');
      else
        arr(body.input).forEach((item, i) => {
          responsesItem(visit, item, `input[${i}]`);
        });
      break;
    case 'openai.embeddings':
      if (typeof body.input === 'string') str(visit, body, 'input', 'input');
      else
        arr(body.input).forEach((_, i) => {
          str(visit, body.input, i, `input[${i}]`);
        });
      break;
    case 'anthropic.messages':
    case 'anthropic.count_tokens':
      anthropicRequest(visit, body);
      break;
    case 'gemini.generate':
    case 'gemini.count_tokens':
      geminiRequest(visit, body, '');
      if (isObj(body.generateContentRequest))
        geminiRequest(visit, body.generateContentRequest, 'generateContentRequest.');
      break;
    case 'mcp.tools_call':
      if (isObj(body.params) && 'arguments' in body.params)
        walkValue(visit, body.params, 'arguments', 'params.arguments');
      break;
    default:
      break;
  }
}

/** Visits every text of a (non-streamed) response body. */
export function walkResponse(surface: Surface, body: unknown, visit: Visit): void {
  if (!isObj(body)) return;
  switch (surface) {
    case 'openai.chat':
      arr(body.choices).forEach((c, i) => {
        if (isObj(c)) openaiChatMessage(visit, c.message, `choices[${i}].message`);
      });
      break;
    case 'openai.responses':
      arr(body.output).forEach((item, i) => {
        responsesItem(visit, item, `output[${i}]`);
      });
      break;
    case 'anthropic.messages':
      arr(body.content).forEach((b, i) => {
        anthropicBlock(visit, b, `content[${i}]`, true);
      });
      break;
    case 'gemini.generate':
      arr(body.candidates).forEach((c, i) => {
        if (isObj(c)) geminiParts(visit, c.content, `candidates[${i}].content`);
      });
      break;
    case 'mcp.tools_call':
      if (isObj(body.result))
        arr(body.result.content).forEach((b, i) => {
          if (isObj(b)) str(visit, b, 'text', `result.content[${i}].text`);
        });
      break;
    default:
      break;
  }
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
