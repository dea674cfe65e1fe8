// Anthropic Messages ⇄ the neutral shapes: requests, answers, stream events and errors.
import { anthropicUsage } from '../anthropic.ts';
import { eventJson } from '../sse.ts';
import { isObject, type TokenUsage } from '../types.ts';
import type { AnswerContext, StreamReader, StreamWriter, WireFormat } from './format.ts';
import {
  argsValue,
  fullUsage,
  type IrEvent,
  type IrImage,
  type IrMessage,
  type IrPart,
  type IrRequest,
  type IrResponse,
  type IrStop,
  type IrTool,
  type IrToolChoice,
  ignore,
  numOr,
  pushMessage,
  str,
  TranslationError,
} from './ir.ts';

/** Request fields read into the neutral request. */
const READ = new Set([
  'model',
  'messages',
  'system',
  'max_tokens',
  'temperature',
  'top_p',
  'top_k',
  'stop_sequences',
  'stream',
  'tools',
  'tool_choice',
  'thinking',
  'metadata',
  'output_config',
]);
/**
 * Fields that only tune how Anthropic serves the call, with nothing to say to another provider; they
 * are left out when translating, for the reason given.
 */
const ANTHROPIC_ONLY = new Set([
  // Server-side clearing of old tool results: the other provider receives the full conversation.
  'context_management',
  // Priority/standard capacity selection.
  'service_tier',
]);

const REDACTED = 'redacted:';

function readImage(block: Record<string, unknown>): IrImage {
  const src = block.source;
  if (isObject(src)) {
    if (src.type === 'base64' && typeof src.data === 'string')
      return { type: 'image', mediaType: str(src.media_type) ?? 'image/png', data: src.data };
    if (src.type === 'url' && typeof src.url === 'string') return { type: 'image', url: src.url };
  }
  throw new TranslationError('an image block has a source other than base64 data or a URL');
}

function readBlock(block: unknown, where: string): IrPart | null {
  if (typeof block === 'string') return { type: 'text', text: block };
  if (!isObject(block)) throw new TranslationError(`${where} is not a content block`);
  switch (block.type) {
    case 'text':
      return { type: 'text', text: str(block.text) ?? '' };
    case 'image':
      return readImage(block);
    case 'tool_use':
      return {
        type: 'tool_call',
        id: str(block.id) ?? '',
        name: str(block.name) ?? '',
        input: block.input ?? {},
      };
    case 'tool_result': {
      const content: Array<{ type: 'text'; text: string } | IrImage> = [];
      const c = block.content;
      if (typeof c === 'string') content.push({ type: 'text', text: c });
      else if (Array.isArray(c)) {
        for (const item of c) {
          if (isObject(item) && item.type === 'text')
            content.push({ type: 'text', text: str(item.text) ?? '' });
          else if (isObject(item) && item.type === 'image') content.push(readImage(item));
          else
            throw new TranslationError(`${where}: a tool result holds a block other than text or an image`);
        }
      }
      return {
        type: 'tool_result',
        id: str(block.tool_use_id) ?? '',
        content,
        isError: block.is_error === true,
      };
    }
    case 'thinking':
      return {
        type: 'thinking',
        text: str(block.thinking) ?? '',
        signature: str(block.signature) || undefined,
      };
    case 'redacted_thinking':
      return { type: 'thinking', text: '', signature: REDACTED + (str(block.data) ?? '') };
    default:
      throw new TranslationError(
        `${where} is a ${String(block.type)} block, which only Anthropic models understand`,
      );
  }
}

function readContent(content: unknown, where: string): IrPart[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw new TranslationError(`${where} has no content`);
  const parts: IrPart[] = [];
  content.forEach((b, i) => {
    const p = readBlock(b, `${where}.content[${i}]`);
    if (p !== null) parts.push(p);
  });
  return parts;
}

function readTools(tools: unknown, hosted: string[]): IrTool[] {
  if (!Array.isArray(tools)) return [];
  const out: IrTool[] = [];
  tools.forEach((t, i) => {
    if (!isObject(t)) throw new TranslationError(`tools[${i}] is not an object`);
    if (t.type !== undefined && t.type !== 'custom') {
      hosted.push(`${String(t.name ?? i)} (Anthropic server tool ${String(t.type)})`);
      return;
    }
    out.push({
      name: str(t.name) ?? '',
      description: str(t.description) ?? '',
      parameters: isObject(t.input_schema) ? t.input_schema : { type: 'object', properties: {} },
    });
  });
  return out;
}

function readToolChoice(tc: unknown): { choice?: IrToolChoice; parallel?: boolean } {
  if (!isObject(tc)) return {};
  const parallel = tc.disable_parallel_tool_use === true ? false : undefined;
  switch (tc.type) {
    case 'auto':
      return { choice: { type: 'auto' }, parallel };
    case 'any':
      return { choice: { type: 'required' }, parallel };
    case 'none':
      return { choice: { type: 'none' }, parallel };
    case 'tool':
      return { choice: { type: 'tool', name: str(tc.name) ?? '' }, parallel };
    default:
      return {};
  }
}

function readSystem(system: unknown): string[] {
  if (typeof system === 'string') return system === '' ? [] : [system];
  if (!Array.isArray(system)) return [];
  return system.map((b, i) => {
    if (isObject(b) && b.type === 'text' && typeof b.text === 'string') return b.text;
    throw new TranslationError(`system[${i}] is not a text block`);
  });
}

const EFFORTS = new Set(['minimal', 'low', 'medium', 'high']);

function readRequest(body: Record<string, unknown>, model: string): IrRequest {
  for (const k of Object.keys(body)) {
    if (!READ.has(k) && !ANTHROPIC_ONLY.has(k))
      throw new TranslationError(`the request field ${k} cannot be translated for another provider`);
  }
  const messages: IrMessage[] = [];
  const system = readSystem(body.system);
  if (!Array.isArray(body.messages)) throw new TranslationError('the request has no messages array');
  body.messages.forEach((m, i) => {
    // System messages within the conversation (a Claude Code beta) join the system prompt.
    if (isObject(m) && m.role === 'system') {
      system.push(...readSystem(m.content));
      return;
    }
    if (!isObject(m) || (m.role !== 'user' && m.role !== 'assistant'))
      throw new TranslationError(`messages[${i}] has no user, assistant or system role`);
    pushMessage(messages, m.role, readContent(m.content, `messages[${i}]`));
  });
  const hostedTools: string[] = [];
  const { choice, parallel } = readToolChoice(body.tool_choice);
  const req: IrRequest = {
    model,
    system,
    messages,
    tools: readTools(body.tools, hostedTools),
    hostedTools,
    toolChoice: choice,
    parallelToolCalls: parallel,
    maxTokens: numOr(body.max_tokens),
    temperature: numOr(body.temperature),
    topP: numOr(body.top_p),
    topK: numOr(body.top_k),
    stop: Array.isArray(body.stop_sequences)
      ? body.stop_sequences.filter((s) => typeof s === 'string')
      : undefined,
    stream: body.stream === true,
  };
  const thinking = body.thinking;
  if (isObject(thinking) && thinking.type !== 'disabled') {
    req.reasoning = { budgetTokens: numOr(thinking.budget_tokens) };
  }
  const oc = body.output_config;
  if (isObject(oc) && typeof oc.effort === 'string') {
    // Anthropic's "max" is beyond what the others offer: their highest.
    const effort = oc.effort === 'max' ? 'high' : oc.effort;
    if (EFFORTS.has(effort)) req.reasoning = { ...req.reasoning, effort: effort as 'low' };
  }
  if (isObject(body.metadata) && typeof body.metadata.user_id === 'string') req.user = body.metadata.user_id;
  return req;
}

function writeImage(img: IrImage): Record<string, unknown> {
  return {
    type: 'image',
    source:
      'url' in img
        ? { type: 'url', url: img.url }
        : { type: 'base64', media_type: img.mediaType, data: img.data },
  };
}

function writePart(p: IrPart): Record<string, unknown> | null {
  switch (p.type) {
    case 'text':
      return p.text === '' ? null : { type: 'text', text: p.text };
    case 'image':
      return writeImage(p);
    case 'tool_call':
      return { type: 'tool_use', id: p.id, name: p.name, input: argsValue(p) };
    case 'tool_result':
      return {
        type: 'tool_result',
        tool_use_id: p.id,
        content: p.content.map((c) => (c.type === 'text' ? { type: 'text', text: c.text } : writeImage(c))),
        ...(p.isError ? { is_error: true } : {}),
      };
    case 'thinking':
      // Only reasoning Anthropic signed can go back to it; other providers' reasoning stays with them.
      if (p.signature === undefined) return null;
      if (p.signature.startsWith(REDACTED))
        return { type: 'redacted_thinking', data: p.signature.slice(REDACTED.length) };
      return { type: 'thinking', thinking: p.text, signature: p.signature };
  }
}

/** Claude's thinking budget for each reasoning effort (also on Bedrock's Converse). */
export const EFFORT_BUDGET = { minimal: 1024, low: 2048, medium: 8192, high: 24576 } as const;
/** Anthropic requires max_tokens; a request without one gets this (the gateway sets the model's own first). */
export const DEFAULT_MAX_TOKENS = 32000;

function writeRequest(req: IrRequest): Record<string, unknown> {
  const messages = req.messages.map((m) => {
    const content = m.parts.map(writePart).filter((b) => b !== null);
    // Tool results must open the user turn that answers the calls.
    if (m.role === 'user')
      content.sort((a, b) => Number(b.type === 'tool_result') - Number(a.type === 'tool_result'));
    return { role: m.role, content };
  });
  const out: Record<string, unknown> = {
    model: req.model,
    max_tokens: req.maxTokens ?? DEFAULT_MAX_TOKENS,
    messages: messages.filter((m) => m.content.length > 0),
  };
  if (req.system.length > 0) out.system = req.system.map((text) => ({ type: 'text', text }));
  if (req.tools.length > 0) {
    out.tools = req.tools.map((t) => ({
      name: t.name,
      description: t.description,
      input_schema: t.parameters,
    }));
  }
  const tc = req.toolChoice;
  if (tc !== undefined || req.parallelToolCalls === false) {
    const choice: Record<string, unknown> =
      tc === undefined || tc.type === 'auto'
        ? { type: 'auto' }
        : tc.type === 'required'
          ? { type: 'any' }
          : tc.type === 'none'
            ? { type: 'none' }
            : { type: 'tool', name: tc.name };
    if (req.parallelToolCalls === false && choice.type !== 'none') choice.disable_parallel_tool_use = true;
    if (req.tools.length > 0) out.tool_choice = choice;
  }
  if (req.stop !== undefined && req.stop.length > 0) out.stop_sequences = req.stop;
  if (req.stream) out.stream = true;
  if (req.user !== undefined) out.metadata = { user_id: req.user };
  const r = req.reasoning;
  if (r !== undefined && r.effort !== 'minimal' && (r.budgetTokens !== undefined || r.effort !== undefined)) {
    const max = out.max_tokens as number;
    let budget = r.budgetTokens ?? EFFORT_BUDGET[r.effort ?? 'medium'];
    // The budget must leave room for the answer; a small max_tokens gets no thinking rather than an error.
    budget = Math.min(budget, max - 1024);
    if (budget >= 1024) out.thinking = { type: 'enabled', budget_tokens: budget };
  }
  // Thinking fixes temperature at 1; sampling settings stand only without it.
  if (out.thinking === undefined) {
    if (req.temperature !== undefined) out.temperature = Math.min(1, req.temperature);
    if (req.topP !== undefined) out.top_p = req.topP;
    if (req.topK !== undefined) out.top_k = req.topK;
  } else {
    for (const [name, v] of [
      ['temperature', req.temperature],
      ['top_p', req.topP],
      ['top_k', req.topK],
    ] as const)
      if (v !== undefined) ignore(req, `${name} (Claude takes none with thinking on)`);
  }
  return out;
}

const STOP_IN: Record<string, IrStop> = {
  end_turn: 'end',
  max_tokens: 'max_tokens',
  model_context_window_exceeded: 'max_tokens',
  tool_use: 'tool_use',
  stop_sequence: 'stop_sequence',
  refusal: 'refusal',
  pause_turn: 'end',
};
const STOP_OUT: Record<IrStop, string> = {
  end: 'end_turn',
  max_tokens: 'max_tokens',
  tool_use: 'tool_use',
  stop_sequence: 'stop_sequence',
  content_filter: 'refusal',
  refusal: 'refusal',
};

function readResponse(body: unknown): IrResponse {
  if (!isObject(body) || !Array.isArray(body.content))
    throw new TranslationError('the Anthropic answer has no content', 502, 'bad_upstream_answer');
  return {
    id: str(body.id) ?? '',
    model: str(body.model) ?? '',
    parts: readContent(body.content, 'answer'),
    stop: STOP_IN[str(body.stop_reason) ?? ''] ?? 'end',
    stopSequence: str(body.stop_sequence),
    usage: anthropicUsage(body.usage) ?? fullUsage(undefined),
  };
}

function usageOut(u: TokenUsage): Record<string, unknown> {
  return {
    input_tokens: u.inputTokens,
    cache_creation_input_tokens: u.cacheWriteTokens,
    cache_read_input_tokens: u.cachedInputTokens,
    output_tokens: u.outputTokens,
  };
}

function messageId(id: string): string {
  return id.startsWith('msg_') ? id : `msg_${id.replace(/[^A-Za-z0-9_-]/g, '')}`;
}

function writeResponse(res: IrResponse, ctx: AnswerContext): unknown {
  const content = res.parts.map(writeAnswerPart).filter((b) => b !== null);
  return {
    id: messageId(res.id),
    type: 'message',
    role: 'assistant',
    model: ctx.model,
    content,
    stop_reason: STOP_OUT[res.stop],
    stop_sequence: res.stopSequence ?? null,
    usage: usageOut(res.usage),
  };
}

/** Like writePart, but reasoning from another provider is shown (unsigned) rather than left out. */
function writeAnswerPart(p: IrPart): Record<string, unknown> | null {
  if (p.type === 'thinking' && p.signature === undefined) {
    return p.text === '' ? null : { type: 'thinking', thinking: p.text, signature: '' };
  }
  return writePart(p);
}

class Reader implements StreamReader {
  read(ev: Parameters<StreamReader['read']>[0], out: IrEvent[]): void {
    const msg = eventJson(ev);
    if (!isObject(msg)) return;
    switch (msg.type) {
      case 'message_start': {
        const m = isObject(msg.message) ? msg.message : {};
        out.push({
          type: 'start',
          id: str(m.id) ?? '',
          model: str(m.model) ?? '',
          usage: anthropicUsage(m.usage) ?? undefined,
        });
        return;
      }
      case 'content_block_start': {
        const b = isObject(msg.content_block) ? msg.content_block : {};
        if (b.type === 'tool_use')
          out.push({ type: 'tool_start', id: str(b.id) ?? '', name: str(b.name) ?? '' });
        else if (b.type === 'text' && typeof b.text === 'string' && b.text !== '')
          out.push({ type: 'text', text: b.text });
        else if (b.type === 'redacted_thinking')
          out.push(
            { type: 'thinking', text: '' },
            { type: 'signature', signature: REDACTED + (str(b.data) ?? '') },
          );
        else if (b.type !== 'text' && b.type !== 'thinking')
          out.push({
            type: 'error',
            status: 502,
            message: `the answer holds a ${String(b.type)} block, which cannot be translated`,
          });
        return;
      }
      case 'content_block_delta': {
        const d = isObject(msg.delta) ? msg.delta : {};
        if (d.type === 'text_delta') out.push({ type: 'text', text: str(d.text) ?? '' });
        else if (d.type === 'input_json_delta')
          out.push({ type: 'tool_args', text: str(d.partial_json) ?? '' });
        else if (d.type === 'thinking_delta') out.push({ type: 'thinking', text: str(d.thinking) ?? '' });
        else if (d.type === 'signature_delta')
          out.push({ type: 'signature', signature: str(d.signature) ?? '' });
        return;
      }
      case 'message_delta': {
        const u = anthropicUsage(msg.usage);
        if (u !== null) out.push({ type: 'usage', usage: pick(msg.usage as Record<string, unknown>, u) });
        const d = isObject(msg.delta) ? msg.delta : {};
        if (typeof d.stop_reason === 'string')
          out.push({
            type: 'stop',
            reason: STOP_IN[d.stop_reason] ?? 'end',
            stopSequence: str(d.stop_sequence),
          });
        return;
      }
      case 'message_stop':
        out.push({ type: 'end' });
        return;
      case 'error': {
        const e = isObject(msg.error) ? msg.error : {};
        out.push({
          type: 'error',
          status: e.type === 'overloaded_error' ? 529 : 500,
          message: str(e.message) ?? 'upstream error',
        });
        return;
      }
    }
  }
  end(): void {}
}

/** The fields a message_delta usage actually carries (it repeats only some). */
function pick(raw: Record<string, unknown>, u: TokenUsage): Partial<TokenUsage> {
  const out: Partial<TokenUsage> = { outputTokens: u.outputTokens };
  if ('input_tokens' in raw) out.inputTokens = u.inputTokens;
  if ('cache_read_input_tokens' in raw) out.cachedInputTokens = u.cachedInputTokens;
  if ('cache_creation_input_tokens' in raw) out.cacheWriteTokens = u.cacheWriteTokens;
  return out;
}

function sse(type: string, payload: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;
}

function errorType(status: number): string {
  if (status === 429) return 'rate_limit_error';
  if (status === 529 || status === 503) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

class Writer implements StreamWriter {
  readonly #ctx: AnswerContext;
  #index = -1;
  #open: 'text' | 'thinking' | 'tool' | null = null;
  #started = false;
  #usage = fullUsage(undefined);
  #stop: IrStop = 'end';
  #stopSequence: string | undefined;
  #done = false;
  constructor(ctx: AnswerContext) {
    this.#ctx = ctx;
  }

  #start(id: string): string {
    this.#started = true;
    return sse('message_start', {
      message: {
        id: messageId(id),
        type: 'message',
        role: 'assistant',
        model: this.#ctx.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: usageOut(this.#usage),
      },
    });
  }

  #block(kind: 'text' | 'thinking' | 'tool', block: Record<string, unknown>): string {
    const out = this.#close();
    this.#open = kind;
    this.#index++;
    return out + sse('content_block_start', { index: this.#index, content_block: block });
  }

  #close(): string {
    if (this.#open === null) return '';
    this.#open = null;
    return sse('content_block_stop', { index: this.#index });
  }

  write(ev: IrEvent): string {
    if (this.#done) return '';
    let out = '';
    if (!this.#started && ev.type !== 'error') {
      if (ev.type === 'start') {
        Object.assign(this.#usage, ev.usage);
        return this.#start(ev.id);
      }
      out = this.#start('');
    }
    switch (ev.type) {
      case 'start':
        return out;
      case 'text':
        if (this.#open !== 'text') out += this.#block('text', { type: 'text', text: '' });
        return (
          out +
          sse('content_block_delta', { index: this.#index, delta: { type: 'text_delta', text: ev.text } })
        );
      case 'thinking':
        if (this.#open !== 'thinking')
          out += this.#block('thinking', { type: 'thinking', thinking: '', signature: '' });
        return ev.text === ''
          ? out
          : out +
              sse('content_block_delta', {
                index: this.#index,
                delta: { type: 'thinking_delta', thinking: ev.text },
              });
      case 'signature':
        if (this.#open !== 'thinking') return out;
        return (
          out +
          sse('content_block_delta', {
            index: this.#index,
            delta: { type: 'signature_delta', signature: ev.signature },
          })
        );
      case 'tool_start':
        return out + this.#block('tool', { type: 'tool_use', id: ev.id, name: ev.name, input: {} });
      case 'tool_args':
        if (this.#open !== 'tool' || ev.text === '') return out;
        return (
          out +
          sse('content_block_delta', {
            index: this.#index,
            delta: { type: 'input_json_delta', partial_json: ev.text },
          })
        );
      case 'usage':
        Object.assign(this.#usage, ev.usage);
        return out;
      case 'stop':
        this.#stop = ev.reason;
        this.#stopSequence = ev.stopSequence;
        return out;
      case 'error':
        this.#done = true;
        return out + sse('error', { error: { type: errorType(ev.status), message: ev.message } });
      case 'end':
        this.#done = true;
        return (
          out +
          this.#close() +
          sse('message_delta', {
            delta: { stop_reason: STOP_OUT[this.#stop], stop_sequence: this.#stopSequence ?? null },
            usage: usageOut(this.#usage),
          }) +
          sse('message_stop', {})
        );
    }
  }
}

export const anthropicFormat: WireFormat = {
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
