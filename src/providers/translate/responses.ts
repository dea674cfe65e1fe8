// OpenAI Responses ⇄ the neutral shapes: requests, answers, stream events and errors.
import { randomFillSync } from 'node:crypto';
import { openaiUsage } from '../openai.ts';
import { eventJson } from '../sse.ts';
import { isObject, type TokenUsage } from '../types.ts';
import { effortOf, freeformTool, readChoice } from './chat.ts';
import type { AnswerContext, StreamReader, StreamWriter, WireFormat } from './format.ts';
import {
  argsText,
  fullUsage,
  type IrEvent,
  type IrImage,
  type IrMessage,
  type IrPart,
  type IrRequest,
  type IrResponse,
  type IrStop,
  type IrTool,
  ignore,
  imageUrl,
  namespacedName,
  numOr,
  parseDataUrl,
  promptTokens,
  pushMessage,
  safetyIdentifier,
  str,
  streamEnd,
  TranslationError,
} from './ir.ts';

const READ = new Set([
  'model',
  'input',
  'instructions',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'max_output_tokens',
  'temperature',
  'top_p',
  'stream',
  'reasoning',
  'user',
  'safety_identifier',
  'text',
  'include',
]);
/** OpenAI-only settings with no bearing on another provider's answer; left out when translating. */
const OPENAI_ONLY = new Set([
  'store',
  'metadata',
  'service_tier',
  'prompt_cache_key',
  'prompt_cache_retention',
  'truncation',
  'client_metadata',
  'stream_options',
]);

/** Marks reasoning that Anthropic signed, carried to a Responses client as the item's encrypted content. */
const ANTHROPIC_SIGNED = 'pcl-anthropic:';

function readImage(p: Record<string, unknown>): IrImage {
  const url = str(p.image_url);
  if (url === undefined)
    throw new TranslationError('an input_image refers to an uploaded file, which cannot be translated');
  const data = parseDataUrl(url);
  return data === undefined ? { type: 'image', url } : { type: 'image', ...data };
}

function readContent(content: unknown, where: string): IrPart[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw new TranslationError(`${where} has no content`);
  return content.map((p, i) => {
    if (isObject(p) && (p.type === 'input_text' || p.type === 'output_text' || p.type === 'text'))
      return { type: 'text', text: str(p.text) ?? '' };
    if (isObject(p) && p.type === 'refusal') return { type: 'text', text: str(p.refusal) ?? '' };
    if (isObject(p) && p.type === 'input_image') return readImage(p);
    throw new TranslationError(
      `${where}.content[${i}] is a ${isObject(p) ? String(p.type) : 'non-object'} part, which cannot be translated`,
    );
  });
}

function readOutput(output: unknown, where: string): Array<{ type: 'text'; text: string } | IrImage> {
  if (typeof output === 'string') return [{ type: 'text', text: output }];
  return readContent(output, where).filter((p) => p.type === 'text' || p.type === 'image');
}

/** One declared tool into `out` (a namespace's tools flattened), or its name into `hosted`. */
function readTool(t: unknown, out: IrTool[], hosted: string[], ns?: string): void {
  if (!isObject(t)) throw new TranslationError('a tool declaration is not an object');
  const name = str(t.name) ?? '';
  const flat = ns === undefined ? name : namespacedName(ns, name);
  const namespace = ns === undefined ? undefined : { namespace: ns, name };
  if (t.type === 'function') {
    out.push({
      name: flat,
      description: str(t.description) ?? '',
      parameters: isObject(t.parameters) ? t.parameters : { type: 'object', properties: {} },
      namespace,
    });
  } else if (t.type === 'custom') {
    const format = isObject(t.format) && t.format.type === 'grammar' ? t.format : undefined;
    const grammar =
      format === undefined
        ? ''
        : `\n\nThe input must follow this ${String(format.syntax)} grammar:\n${String(format.definition)}`;
    out.push({ ...freeformTool(flat, (str(t.description) ?? '') + grammar), namespace });
  } else if (t.type === 'namespace' && ns === undefined && Array.isArray(t.tools)) {
    for (const inner of t.tools) readTool(inner, out, hosted, name);
  } else {
    hosted.push(`${String(t.type)} (OpenAI hosted tool)`);
  }
}

function readTools(tools: unknown, out: IrTool[], hosted: string[]): void {
  if (Array.isArray(tools)) for (const t of tools) readTool(t, out, hosted);
}

/** A call's neutral name: namespaced calls carry their namespace beside the name. */
function callName(item: Record<string, unknown>): string {
  const name = str(item.name) ?? '';
  return typeof item.namespace === 'string' ? namespacedName(item.namespace, name) : name;
}

function readRequest(body: Record<string, unknown>, model: string): IrRequest {
  for (const k of Object.keys(body)) {
    if (!READ.has(k) && !OPENAI_ONLY.has(k))
      throw new TranslationError(`the request field ${k} cannot be translated for another provider`);
  }
  const text = body.text;
  if (isObject(text) && isObject(text.format) && text.format.type !== 'text')
    throw new TranslationError(
      `structured output (text.format ${String(text.format.type)}) cannot be translated`,
    );
  const system: string[] = [];
  if (typeof body.instructions === 'string' && body.instructions !== '') system.push(body.instructions);
  const messages: IrMessage[] = [];
  const tools: IrTool[] = [];
  const hostedTools: string[] = [];
  readTools(body.tools, tools, hostedTools);
  const input = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : body.input;
  if (!Array.isArray(input)) throw new TranslationError('the request has no input');
  input.forEach((item, i) => {
    const where = `input[${i}]`;
    if (!isObject(item)) throw new TranslationError(`${where} is not an object`);
    const type = item.type ?? 'message';
    switch (type) {
      case 'message': {
        const parts = readContent(item.content, where);
        if (item.role === 'system' || item.role === 'developer') {
          system.push(parts.map((p) => (p.type === 'text' ? p.text : '')).join('\n'));
        } else if (item.role === 'user' || item.role === 'assistant') pushMessage(messages, item.role, parts);
        else throw new TranslationError(`${where} has role ${String(item.role)}`);
        return;
      }
      case 'function_call':
        pushMessage(messages, 'assistant', [
          {
            type: 'tool_call',
            id: str(item.call_id) ?? '',
            name: callName(item),
            arguments: str(item.arguments) ?? '{}',
          },
        ]);
        return;
      case 'custom_tool_call':
        pushMessage(messages, 'assistant', [
          {
            type: 'tool_call',
            id: str(item.call_id) ?? '',
            name: callName(item),
            arguments: JSON.stringify({ input: str(item.input) ?? '' }),
          },
        ]);
        return;
      case 'additional_tools':
        // Tools declared within the input (Codex does so): the same as top-level ones.
        readTools(item.tools, tools, hostedTools);
        return;
      case 'function_call_output':
      case 'custom_tool_call_output':
        pushMessage(messages, 'user', [
          {
            type: 'tool_result',
            id: str(item.call_id) ?? '',
            content: readOutput(item.output, where),
            isError: false,
          },
        ]);
        return;
      case 'reasoning': {
        const enc = str(item.encrypted_content);
        // Only reasoning that came from an Anthropic model through this gateway can go back to one.
        if (enc?.startsWith(ANTHROPIC_SIGNED)) {
          const summary = Array.isArray(item.summary) ? item.summary : [];
          const thought = summary.map((s) => (isObject(s) ? (str(s.text) ?? '') : '')).join('');
          pushMessage(messages, 'assistant', [
            { type: 'thinking', text: thought, signature: enc.slice(ANTHROPIC_SIGNED.length) },
          ]);
        }
        return;
      }
      default:
        throw new TranslationError(`${where} is a ${String(type)} item, which cannot be translated`);
    }
  });
  const reasoning = isObject(body.reasoning) ? body.reasoning : undefined;
  const effort = str(reasoning?.effort);
  return {
    model,
    system,
    messages,
    tools,
    hostedTools,
    toolChoice: readChoice(body.tool_choice),
    parallelToolCalls: typeof body.parallel_tool_calls === 'boolean' ? body.parallel_tool_calls : undefined,
    maxTokens: numOr(body.max_output_tokens),
    temperature: numOr(body.temperature),
    topP: numOr(body.top_p),
    stream: body.stream === true,
    reasoning:
      effort === 'minimal' || effort === 'low' || effort === 'medium' || effort === 'high'
        ? { effort }
        : undefined,
    user: str(body.safety_identifier) ?? str(body.user),
  };
}

function imagePart(img: IrImage): Record<string, unknown> {
  return { type: 'input_image', image_url: imageUrl(img), detail: 'auto' };
}

function writeRequest(req: IrRequest): Record<string, unknown> {
  if (req.stop !== undefined && req.stop.length > 0)
    throw new TranslationError(
      'stop sequences cannot be translated for the OpenAI Responses API, which has none',
    );
  const input: Record<string, unknown>[] = [];
  for (const m of req.messages) {
    let content: Record<string, unknown>[] = [];
    const flush = () => {
      if (content.length > 0) input.push({ type: 'message', role: m.role, content });
      content = [];
    };
    for (const p of m.parts) {
      switch (p.type) {
        case 'text':
          content.push({ type: m.role === 'user' ? 'input_text' : 'output_text', text: p.text });
          break;
        case 'image':
          if (m.role === 'assistant') throw new TranslationError('an assistant message holds an image');
          content.push(imagePart(p));
          break;
        case 'tool_call':
          flush();
          input.push({ type: 'function_call', call_id: p.id, name: p.name, arguments: argsText(p) });
          break;
        case 'tool_result': {
          flush();
          const only = p.content.length === 1 && p.content[0].type === 'text' ? p.content[0].text : undefined;
          const output =
            only !== undefined
              ? (p.isError ? 'Error: ' : '') + only
              : [
                  ...(p.isError ? [{ type: 'input_text', text: 'Error:' }] : []),
                  ...p.content.map((c) =>
                    c.type === 'text' ? { type: 'input_text', text: c.text } : imagePart(c),
                  ),
                ];
          input.push({ type: 'function_call_output', call_id: p.id, output });
          break;
        }
        case 'thinking':
          // Reasoning from another provider cannot be handed to an OpenAI model.
          break;
      }
    }
    flush();
  }
  const out: Record<string, unknown> = { model: req.model, input, store: false };
  if (req.system.length > 0) out.instructions = req.system.join('\n\n');
  if (req.tools.length > 0) {
    out.tools = req.tools.map((t) => ({
      type: 'function',
      name: t.name,
      description: t.description,
      parameters: t.parameters,
      strict: false,
    }));
    const tc = req.toolChoice;
    if (tc !== undefined)
      out.tool_choice = tc.type === 'tool' ? { type: 'function', name: tc.name } : tc.type;
    if (req.parallelToolCalls !== undefined) out.parallel_tool_calls = req.parallelToolCalls;
  }
  if (req.maxTokens !== undefined) out.max_output_tokens = req.maxTokens;
  if (req.temperature !== undefined) out.temperature = req.temperature;
  if (req.topP !== undefined) out.top_p = req.topP;
  if (req.topK !== undefined) ignore(req, 'top_k (OpenAI samples without it)');
  if (req.reasoning !== undefined) out.reasoning = { effort: effortOf(req.reasoning), summary: 'auto' };
  if (req.user !== undefined) out.safety_identifier = safetyIdentifier(req.user);
  if (req.stream) out.stream = true;
  return out;
}

function readResponse(body: unknown): IrResponse {
  if (!isObject(body) || !Array.isArray(body.output))
    throw new TranslationError('the Responses answer has no output', 502, 'bad_upstream_answer');
  const parts: IrPart[] = [];
  let refused = false;
  for (const item of body.output) {
    if (!isObject(item)) continue;
    if (item.type === 'message' && Array.isArray(item.content)) {
      for (const c of item.content) {
        if (isObject(c) && c.type === 'output_text') parts.push({ type: 'text', text: str(c.text) ?? '' });
        else if (isObject(c) && c.type === 'refusal') {
          refused = true;
          parts.push({ type: 'text', text: str(c.refusal) ?? '' });
        }
      }
    } else if (item.type === 'function_call') {
      parts.push({
        type: 'tool_call',
        id: str(item.call_id) ?? '',
        name: str(item.name) ?? '',
        arguments: str(item.arguments) ?? '{}',
      });
    } else if (item.type === 'custom_tool_call') {
      parts.push({
        type: 'tool_call',
        id: str(item.call_id) ?? '',
        name: str(item.name) ?? '',
        arguments: JSON.stringify({ input: str(item.input) ?? '' }),
      });
    } else if (item.type === 'reasoning') {
      const summary = Array.isArray(item.summary) ? item.summary : [];
      const text = summary.map((s) => (isObject(s) ? (str(s.text) ?? '') : '')).join('\n\n');
      if (text !== '') parts.push({ type: 'thinking', text });
    } else {
      throw new TranslationError(
        `the answer holds a ${String(item.type)} item, which cannot be translated`,
        502,
        'bad_upstream_answer',
      );
    }
  }
  return {
    id: str(body.id) ?? '',
    model: str(body.model) ?? '',
    parts,
    stop: stopOf(
      body,
      parts.some((p) => p.type === 'tool_call'),
      refused,
    ),
    usage: openaiUsage(body.usage) ?? fullUsage(undefined),
  };
}

function stopOf(resp: Record<string, unknown>, called: boolean, refused: boolean): IrStop {
  if (resp.status === 'incomplete') {
    const reason = isObject(resp.incomplete_details) ? resp.incomplete_details.reason : undefined;
    return reason === 'content_filter' ? 'content_filter' : 'max_tokens';
  }
  if (refused) return 'refusal';
  return called ? 'tool_use' : 'end';
}

function usageOut(u: TokenUsage): Record<string, unknown> {
  const prompt = promptTokens(u);
  return {
    input_tokens: prompt,
    input_tokens_details: { cached_tokens: u.cachedInputTokens },
    output_tokens: u.outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: prompt + u.outputTokens,
  };
}

function responseId(id: string): string {
  return id.startsWith('resp_') ? id : `resp_${id}`;
}

// Ids for the items of a translated answer, cut from a pool of random hex: a call to the random
// source per id cost more than the rest of translating a short answer.
const pool = { hex: '', at: 0, bytes: Buffer.alloc(3072) };

function shortId(prefix: string): string {
  if (pool.at + 24 > pool.hex.length) {
    pool.hex = randomFillSync(pool.bytes).toString('hex');
    pool.at = 0;
  }
  pool.at += 24;
  return `${prefix}_${pool.hex.slice(pool.at - 24, pool.at)}`;
}

/** The output items of a finished answer, as the Responses API lists them. */
function outputItems(parts: IrPart[], ctx: AnswerContext): Record<string, unknown>[] {
  const items: Record<string, unknown>[] = [];
  let text: string | null = null;
  const flush = () => {
    if (text !== null) items.push(messageItem(shortId('msg'), text));
    text = null;
  };
  for (const p of parts) {
    if (p.type === 'text') text = (text ?? '') + p.text;
    else if (p.type === 'tool_call') {
      flush();
      items.push(callItem(shortId('fc'), p.id, p.name, argsText(p), ctx));
    } else if (p.type === 'thinking') {
      flush();
      items.push(reasoningItem(shortId('rs'), p.text, p.signature));
    }
  }
  flush();
  return items;
}

function messageItem(id: string, text: string): Record<string, unknown> {
  return {
    type: 'message',
    id,
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
  };
}

function callItem(
  id: string,
  callId: string,
  name: string,
  args: string,
  ctx: AnswerContext,
  status = 'completed',
): Record<string, unknown> {
  const ns = ctx.namespaced?.get(name);
  const named = ns === undefined ? { name } : { name: ns.name, namespace: ns.namespace };
  if (ctx.freeformTools.has(name)) {
    let input = args;
    try {
      const v: unknown = JSON.parse(args);
      if (isObject(v) && typeof v.input === 'string') input = v.input;
    } catch {
      // The model wrote the input bare: pass it as it is.
    }
    return { type: 'custom_tool_call', id, status, call_id: callId, ...named, input };
  }
  return { type: 'function_call', id, status, call_id: callId, ...named, arguments: args };
}

function reasoningItem(id: string, text: string, signature: string | undefined): Record<string, unknown> {
  return {
    type: 'reasoning',
    id,
    summary: text === '' ? [] : [{ type: 'summary_text', text }],
    ...(signature !== undefined ? { encrypted_content: ANTHROPIC_SIGNED + signature } : {}),
  };
}

function responseObject(
  id: string,
  ctx: AnswerContext,
  status: string,
  output: Record<string, unknown>[],
  usage: TokenUsage | null,
  stop: IrStop | null,
): Record<string, unknown> {
  return {
    id: responseId(id),
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status,
    error: null,
    incomplete_details:
      status === 'incomplete'
        ? { reason: stop === 'content_filter' ? 'content_filter' : 'max_output_tokens' }
        : null,
    model: ctx.model,
    output,
    parallel_tool_calls: true,
    tool_choice: 'auto',
    tools: [],
    usage: usage === null ? null : usageOut(usage),
  };
}

function statusOf(stop: IrStop): string {
  return stop === 'max_tokens' || stop === 'content_filter' ? 'incomplete' : 'completed';
}

function writeResponse(res: IrResponse, ctx: AnswerContext): unknown {
  return responseObject(res.id, ctx, statusOf(res.stop), outputItems(res.parts, ctx), res.usage, res.stop);
}

class Reader implements StreamReader {
  #called = false;
  #refused = false;
  /** Free-form (custom) tool input, streamed raw; sent as `{input}` JSON when its item is done. */
  #custom: string | null = null;
  #done = false;
  read(ev: Parameters<StreamReader['read']>[0], out: IrEvent[]): void {
    const msg = eventJson(ev);
    if (!isObject(msg)) return;
    const type = str(msg.type) ?? ev.event;
    switch (type) {
      case 'response.created': {
        const r = isObject(msg.response) ? msg.response : {};
        out.push({ type: 'start', id: str(r.id) ?? '', model: str(r.model) ?? '' });
        return;
      }
      case 'response.output_item.added': {
        const item = isObject(msg.item) ? msg.item : {};
        if (item.type === 'function_call' || item.type === 'custom_tool_call') {
          this.#called = true;
          out.push({ type: 'tool_start', id: str(item.call_id) ?? '', name: str(item.name) ?? '' });
          if (item.type === 'custom_tool_call') this.#custom = '';
        } else if (item.type === 'reasoning') out.push({ type: 'thinking', text: '' });
        else if (item.type !== 'message')
          out.push({
            type: 'error',
            status: 502,
            message: `the answer holds a ${String(item.type)} item, which cannot be translated`,
          });
        return;
      }
      case 'response.output_text.delta':
      case 'response.refusal.delta':
        if (type === 'response.refusal.delta') this.#refused = true;
        out.push({ type: 'text', text: str(msg.delta) ?? '' });
        return;
      case 'response.reasoning_summary_text.delta':
      case 'response.reasoning_text.delta':
        out.push({ type: 'thinking', text: str(msg.delta) ?? '' });
        return;
      case 'response.reasoning_summary_part.added':
        // Summary parts are paragraphs of one thought.
        if (msg.summary_index !== 0) out.push({ type: 'thinking', text: '\n\n' });
        return;
      case 'response.function_call_arguments.delta':
        out.push({ type: 'tool_args', text: str(msg.delta) ?? '' });
        return;
      case 'response.custom_tool_call_input.delta':
        this.#custom = (this.#custom ?? '') + (str(msg.delta) ?? '');
        return;
      case 'response.output_item.done':
        if (this.#custom !== null) {
          out.push({ type: 'tool_args', text: JSON.stringify({ input: this.#custom }) });
          this.#custom = null;
        }
        return;
      case 'response.completed':
      case 'response.incomplete': {
        const r = isObject(msg.response) ? msg.response : {};
        const u = openaiUsage(r.usage);
        if (u !== null) out.push({ type: 'usage', usage: u });
        out.push({ type: 'stop', reason: stopOf(r, this.#called, this.#refused) }, { type: 'end' });
        this.#done = true;
        return;
      }
      case 'response.failed':
      case 'error': {
        const r = isObject(msg.response) ? msg.response : msg;
        const e = isObject(r.error) ? r.error : r;
        this.#done = true;
        out.push({
          type: 'error',
          status: e.code === 'rate_limit_exceeded' ? 429 : 500,
          message: str(e.message) ?? 'upstream error',
        });
        return;
      }
    }
  }
  end(out: IrEvent[]): void {
    // Responses streams end with `response.completed`: a reader that never saw it lost the answer's end.
    if (!this.#done) streamEnd(out, false);
  }
}

type OpenItem =
  | { kind: 'message'; id: string; text: string }
  | { kind: 'reasoning'; id: string; text: string; signature?: string }
  | { kind: 'call'; id: string; callId: string; name: string; args: string; freeform: boolean };

class Writer implements StreamWriter {
  readonly #ctx: AnswerContext;
  #seq = 0;
  #id = '';
  #started = false;
  #open: OpenItem | null = null;
  readonly #items: Record<string, unknown>[] = [];
  #usage = fullUsage(undefined);
  #stop: IrStop = 'end';
  #done = false;
  constructor(ctx: AnswerContext) {
    this.#ctx = ctx;
  }

  #ev(type: string, payload: Record<string, unknown>): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: this.#seq++, ...payload })}\n\n`;
  }

  #index(): number {
    return this.#items.length;
  }

  #close(): string {
    const item = this.#open;
    if (item === null) return '';
    this.#open = null;
    const output_index = this.#index();
    let out = '';
    let done: Record<string, unknown>;
    if (item.kind === 'message') {
      const part = { type: 'output_text', text: item.text, annotations: [], logprobs: [] };
      done = messageItem(item.id, item.text);
      out += this.#ev('response.output_text.done', {
        item_id: item.id,
        output_index,
        content_index: 0,
        text: item.text,
        logprobs: [],
      });
      out += this.#ev('response.content_part.done', {
        item_id: item.id,
        output_index,
        content_index: 0,
        part,
      });
    } else if (item.kind === 'reasoning') {
      done = reasoningItem(item.id, item.text, item.signature);
      if (item.text !== '') {
        const part = { type: 'summary_text', text: item.text };
        out += this.#ev('response.reasoning_summary_text.done', {
          item_id: item.id,
          output_index,
          summary_index: 0,
          text: item.text,
        });
        out += this.#ev('response.reasoning_summary_part.done', {
          item_id: item.id,
          output_index,
          summary_index: 0,
          part,
        });
      }
    } else {
      done = callItem(item.id, item.callId, item.name, item.args, this.#ctx);
      if (done.type === 'custom_tool_call') {
        out += this.#ev('response.custom_tool_call_input.delta', {
          item_id: item.id,
          output_index,
          delta: done.input,
        });
        out += this.#ev('response.custom_tool_call_input.done', {
          item_id: item.id,
          output_index,
          input: done.input,
        });
      } else {
        out += this.#ev('response.function_call_arguments.done', {
          item_id: item.id,
          output_index,
          arguments: item.args,
        });
      }
    }
    out += this.#ev('response.output_item.done', { output_index, item: done });
    this.#items.push(done);
    return out;
  }

  #openMessage(): string {
    const out = this.#close();
    const id = shortId('msg');
    this.#open = { kind: 'message', id, text: '' };
    const output_index = this.#index();
    return (
      out +
      this.#ev('response.output_item.added', {
        output_index,
        item: { type: 'message', id, status: 'in_progress', role: 'assistant', content: [] },
      }) +
      this.#ev('response.content_part.added', {
        item_id: id,
        output_index,
        content_index: 0,
        part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
      })
    );
  }

  #openReasoning(): string {
    const out = this.#close();
    const id = shortId('rs');
    this.#open = { kind: 'reasoning', id, text: '' };
    return (
      out +
      this.#ev('response.output_item.added', {
        output_index: this.#index(),
        item: { type: 'reasoning', id, summary: [] },
      })
    );
  }

  write(ev: IrEvent): string {
    if (this.#done) return '';
    let out = '';
    if (!this.#started) {
      this.#started = true;
      this.#id = ev.type === 'start' ? ev.id : shortId('resp');
      const r = responseObject(this.#id, this.#ctx, 'in_progress', [], null, null);
      out = this.#ev('response.created', { response: r }) + this.#ev('response.in_progress', { response: r });
    }
    const open = this.#open;
    switch (ev.type) {
      case 'start':
        if (ev.usage !== undefined) Object.assign(this.#usage, ev.usage);
        return out;
      case 'text': {
        if (open?.kind !== 'message') out += this.#openMessage();
        const item = this.#open as Extract<OpenItem, { kind: 'message' }>;
        item.text += ev.text;
        return (
          out +
          this.#ev('response.output_text.delta', {
            item_id: item.id,
            output_index: this.#index(),
            content_index: 0,
            delta: ev.text,
            logprobs: [],
          })
        );
      }
      case 'thinking': {
        if (open?.kind !== 'reasoning') out += this.#openReasoning();
        if (ev.text === '') return out;
        const item = this.#open as Extract<OpenItem, { kind: 'reasoning' }>;
        if (item.text === '') {
          out += this.#ev('response.reasoning_summary_part.added', {
            item_id: item.id,
            output_index: this.#index(),
            summary_index: 0,
            part: { type: 'summary_text', text: '' },
          });
        }
        item.text += ev.text;
        return (
          out +
          this.#ev('response.reasoning_summary_text.delta', {
            item_id: item.id,
            output_index: this.#index(),
            summary_index: 0,
            delta: ev.text,
          })
        );
      }
      case 'signature':
        if (open?.kind === 'reasoning') open.signature = (open.signature ?? '') + ev.signature;
        return out;
      case 'tool_start': {
        out += this.#close();
        const id = shortId('fc');
        const freeform = this.#ctx.freeformTools.has(ev.name);
        this.#open = { kind: 'call', id, callId: ev.id, name: ev.name, args: '', freeform };
        const item = callItem(id, ev.id, ev.name, '', this.#ctx, 'in_progress');
        return out + this.#ev('response.output_item.added', { output_index: this.#index(), item });
      }
      case 'tool_args':
        if (open?.kind !== 'call') return out;
        open.args += ev.text;
        // Free-form input is sent whole once known: the model wrote it as JSON around the text.
        if (open.freeform) return out;
        return (
          out +
          this.#ev('response.function_call_arguments.delta', {
            item_id: open.id,
            output_index: this.#index(),
            delta: ev.text,
          })
        );
      case 'usage':
        Object.assign(this.#usage, ev.usage);
        return out;
      case 'stop':
        this.#stop = ev.reason;
        return out;
      case 'error': {
        this.#done = true;
        const r = responseObject(this.#id, this.#ctx, 'failed', this.#items, null, null);
        r.error = { code: ev.status === 429 ? 'rate_limit_exceeded' : 'server_error', message: ev.message };
        return out + this.#close() + this.#ev('response.failed', { response: r });
      }
      case 'end': {
        this.#done = true;
        out += this.#close();
        const status = statusOf(this.#stop);
        const r = responseObject(this.#id, this.#ctx, status, this.#items, this.#usage, this.#stop);
        return (
          out +
          this.#ev(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: r })
        );
      }
    }
  }
}

export const responsesFormat: WireFormat = {
  readRequest,
  writeRequest,
  readResponse,
  writeResponse,
  streamReader: () => new Reader(),
  streamWriter: (ctx) => new Writer(ctx),
  errorMessage(body: unknown): string | undefined {
    return isObject(body) && isObject(body.error) ? str(body.error.message) : undefined;
  },
};
