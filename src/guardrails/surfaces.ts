// Where the text is in each API surface's response bodies and stream events: everything the model
// has produced, with a path per text (`choices[0].message.content`). Request bodies are walked whole
// (walk.ts, with the per-format skip lists of skip-lists.ts): what a client sends is all scanned.
import type { Surface } from '../policy/decision.ts';
import { skipListFor } from './skip-lists.ts';
import {
  at,
  isObj,
  type Obj,
  type PathRef,
  type Sink,
  TextSlot,
  type Visit,
  walkBody,
  walkValue,
} from './walk.ts';

export { childPath, type PathRef, type Slot, type Visit, walkValue } from './walk.ts';

const EMPTY: unknown[] = [];
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : EMPTY);

/** Visits `holder[prop]` at `up` + `seg` (literal text) when it is a string. */
function str(visit: Visit, holder: unknown, prop: string | number, up: PathRef, seg: string, json?: boolean) {
  if (isObj(holder) && typeof holder[prop] === 'string')
    visit(new TextSlot(holder, prop, seg === '' ? up : at(up, seg), undefined, json));
}

// ---- OpenAI Chat Completions --------------------------------------------------------------------

function openaiContent(visit: Visit, msg: Obj, path: PathRef) {
  if (typeof msg.content === 'string') {
    str(visit, msg, 'content', path, '.content');
    return;
  }
  const parts = arr(msg.content);
  if (parts.length === 0) return;
  const content = at(path, '.content');
  for (let j = 0; j < parts.length; j++) {
    const part = parts[j];
    if (!isObj(part)) continue;
    const p = at(content, j);
    str(visit, part, 'text', p, '.text');
    str(visit, part, 'refusal', p, '.refusal');
  }
}

function openaiChatMessage(visit: Visit, msg: unknown, path: PathRef) {
  if (!isObj(msg)) return;
  openaiContent(visit, msg, path);
  str(visit, msg, 'refusal', path, '.refusal');
  const calls = arr(msg.tool_calls);
  for (let k = 0; k < calls.length; k++) {
    const tc = calls[k];
    if (!isObj(tc)) continue;
    const p = at(at(path, '.tool_calls'), k);
    if (isObj(tc.function)) str(visit, tc.function, 'arguments', p, '.function.arguments', true);
    if (isObj(tc.custom)) str(visit, tc.custom, 'input', p, '.custom.input');
  }
  if (isObj(msg.function_call))
    str(visit, msg.function_call, 'arguments', path, '.function_call.arguments', true);
}

// ---- OpenAI Responses ---------------------------------------------------------------------------

function responsesItem(visit: Visit, item: unknown, path: PathRef) {
  if (!isObj(item)) return;
  const type = item.type;
  if (type === 'message' || (type === undefined && 'role' in item)) {
    openaiContent(visit, item, path);
  } else if (type === 'function_call' || type === 'mcp_call') {
    str(visit, item, 'arguments', path, '.arguments', true);
    str(visit, item, 'output', path, '.output');
  } else if (type === 'custom_tool_call') {
    str(visit, item, 'input', path, '.input');
  } else if (
    type === 'function_call_output' ||
    type === 'custom_tool_call_output' ||
    type === 'local_shell_call_output' ||
    type === 'shell_call_output'
  ) {
    if (typeof item.output === 'string') str(visit, item, 'output', path, '.output');
    else {
      const parts = arr(item.output);
      for (let j = 0; j < parts.length; j++)
        if (isObj(parts[j])) str(visit, parts[j], 'text', at(at(path, '.output'), j), '.text');
    }
  } else if (type === 'reasoning') {
    const parts = arr(item.summary);
    for (let j = 0; j < parts.length; j++)
      if (isObj(parts[j])) str(visit, parts[j], 'text', at(at(path, '.summary'), j), '.text');
  }
}

// ---- Anthropic Messages -------------------------------------------------------------------------

function anthropicBlock(visit: Visit, block: unknown, path: PathRef, response: boolean) {
  if (!isObj(block)) return;
  switch (block.type) {
    case 'text':
      str(visit, block, 'text', path, '.text');
      break;
    case 'tool_use':
    case 'server_tool_use':
    case 'mcp_tool_use':
      if ('input' in block) walkValue(visit, block, 'input', at(path, '.input'));
      break;
    case 'tool_result':
    case 'mcp_tool_result':
      if (typeof block.content === 'string') str(visit, block, 'content', path, '.content');
      else {
        const parts = arr(block.content);
        if (parts.length === 0) break;
        const content = at(path, '.content');
        for (let k = 0; k < parts.length; k++) anthropicBlock(visit, parts[k], at(content, k), response);
      }
      break;
    case 'document':
      if (isObj(block.source) && block.source.type === 'text')
        str(visit, block.source, 'data', path, '.source.data');
      break;
    case 'thinking':
      if (response) str(visit, block, 'thinking', path, '.thinking');
      break;
  }
}

// ---- Gemini -------------------------------------------------------------------------------------

const FUNCTION_CALL = ['functionCall', 'function_call'];
const FUNCTION_RESPONSE = ['functionResponse', 'function_response'];
const EXECUTABLE_CODE = ['executableCode', 'executable_code'];
const CODE_RESULT = ['codeExecutionResult', 'code_execution_result'];

function geminiParts(visit: Visit, content: unknown, path: PathRef) {
  if (!isObj(content)) return;
  const parts = arr(content.parts);
  if (parts.length === 0) return;
  const partsPath = at(path, '.parts');
  for (let j = 0; j < parts.length; j++) {
    const part = parts[j];
    if (!isObj(part)) continue;
    const p = at(partsPath, j);
    str(visit, part, 'text', p, '.text');
    for (const k of FUNCTION_CALL) if (isObj(part[k])) walkValue(visit, part[k], 'args', at(p, `.${k}.args`));
    for (const k of FUNCTION_RESPONSE)
      if (isObj(part[k])) walkValue(visit, part[k], 'response', at(p, `.${k}.response`));
    for (const k of EXECUTABLE_CODE) if (isObj(part[k])) str(visit, part[k], 'code', p, `.${k}.code`);
    for (const k of CODE_RESULT) if (isObj(part[k])) str(visit, part[k], 'output', p, `.${k}.output`);
  }
}

// ---- Entry points -------------------------------------------------------------------------------

/**
 * Visits every text of a request body the provider will see: every string, except the fields the
 * surface's skip list names (skip-lists.ts).
 */
export function walkRequest(surface: Surface, body: unknown, visit: Sink): void {
  walkBody(body, skipListFor(surface), visit);
}

/** Visits every text of a (non-streamed) response body. */
export function walkResponse(surface: Surface, body: unknown, sink: Sink): void {
  if (!isObj(body)) return;
  const visit: Visit = typeof sink === 'function' ? sink : (slot) => sink.push(slot);
  switch (surface) {
    case 'openai.chat': {
      const choices = arr(body.choices);
      for (let i = 0; i < choices.length; i++) {
        const c = choices[i];
        if (isObj(c)) openaiChatMessage(visit, c.message, at(at('choices', i), '.message'));
      }
      break;
    }
    case 'openai.responses': {
      const items = arr(body.output);
      for (let i = 0; i < items.length; i++) responsesItem(visit, items[i], at('output', i));
      break;
    }
    case 'anthropic.messages': {
      const blocks = arr(body.content);
      for (let i = 0; i < blocks.length; i++) anthropicBlock(visit, blocks[i], at('content', i), true);
      break;
    }
    case 'gemini.generate': {
      const candidates = arr(body.candidates);
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[i];
        if (isObj(c)) geminiParts(visit, c.content, at(at('candidates', i), '.content'));
      }
      break;
    }
    case 'mcp.tools_call':
      if (isObj(body.result)) {
        const blocks = arr(body.result.content);
        for (let i = 0; i < blocks.length; i++)
          if (isObj(blocks[i])) str(visit, blocks[i], 'text', at('result.content', i), '.text');
      }
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
