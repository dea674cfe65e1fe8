// OpenAI Chat Completions ⇄ the neutral shapes: requests, answers, stream events and errors.
import { openaiUsage } from '../openai.ts';
import { eventJson } from '../sse.ts';
import { isObject, type TokenUsage } from '../types.ts';
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
  type IrToolChoice,
  ignore,
  imageUrl,
  joinedText,
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
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'stop',
  'stream',
  'stream_options',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'reasoning_effort',
  'user',
  'safety_identifier',
  'n',
]);
/** OpenAI-only settings with no bearing on the answer another provider gives; left out when translating. */
const OPENAI_ONLY = new Set([
  'store',
  'metadata',
  'service_tier',
  'prompt_cache_key',
  'prompt_cache_retention',
]);

function readImagePart(p: Record<string, unknown>): IrImage {
  const iu = p.image_url;
  const url = typeof iu === 'string' ? iu : isObject(iu) ? str(iu.url) : undefined;
  if (url === undefined) throw new TranslationError('an image_url part has no URL');
  const data = parseDataUrl(url);
  return data === undefined ? { type: 'image', url } : { type: 'image', ...data };
}

function readParts(content: unknown, where: string): IrPart[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (content === null || content === undefined) return [];
  if (!Array.isArray(content)) throw new TranslationError(`${where}.content is neither text nor parts`);
  return content.map((p, i) => {
    if (isObject(p) && p.type === 'text') return { type: 'text', text: str(p.text) ?? '' };
    if (isObject(p) && p.type === 'image_url') return readImagePart(p);
    if (isObject(p) && p.type === 'refusal') return { type: 'text', text: str(p.refusal) ?? '' };
    throw new TranslationError(
      `${where}.content[${i}] is a ${isObject(p) ? String(p.type) : 'non-object'} part, which cannot be translated`,
    );
  });
}

function textOf(parts: IrPart[], where: string): string {
  return parts
    .map((p) => {
      if (p.type !== 'text') throw new TranslationError(`${where} may hold only text`);
      return p.text;
    })
    .join('\n');
}

function readTools(tools: unknown): IrTool[] {
  if (!Array.isArray(tools)) return [];
  return tools.map((t, i) => {
    if (isObject(t) && t.type === 'function' && isObject(t.function)) {
      const f = t.function;
      return {
        name: str(f.name) ?? '',
        description: str(f.description) ?? '',
        parameters: isObject(f.parameters) ? f.parameters : { type: 'object', properties: {} },
      };
    }
    if (isObject(t) && t.type === 'custom' && isObject(t.custom)) {
      return freeformTool(str(t.custom.name) ?? '', str(t.custom.description) ?? '');
    }
    throw new TranslationError(`tools[${i}] is not a function tool, so it cannot be translated`);
  });
}

export function freeformTool(name: string, description: string): IrTool {
  return {
    name,
    description,
    parameters: {
      type: 'object',
      properties: {
        input: { type: 'string', description: 'The whole input of the tool, as free-form text.' },
      },
      required: ['input'],
    },
    freeform: true,
  };
}

export function readChoice(tc: unknown): IrToolChoice | undefined {
  if (tc === 'auto' || tc === 'none' || tc === 'required') return { type: tc };
  if (isObject(tc)) {
    const name = isObject(tc.function)
      ? str(tc.function.name)
      : isObject(tc.custom)
        ? str(tc.custom.name)
        : str(tc.name);
    if (name !== undefined) return { type: 'tool', name };
    if (tc.type === 'allowed_tools')
      throw new TranslationError('tool_choice allowed_tools cannot be translated');
  }
  return undefined;
}

function readRequest(body: Record<string, unknown>, model: string): IrRequest {
  for (const k of Object.keys(body)) {
    if (!READ.has(k) && !OPENAI_ONLY.has(k))
      throw new TranslationError(`the request field ${k} cannot be translated for another provider`);
  }
  if (body.n !== undefined && body.n !== 1)
    throw new TranslationError('only one choice (n = 1) can be translated');
  if (!Array.isArray(body.messages)) throw new TranslationError('the request has no messages array');
  const system: string[] = [];
  const messages: IrMessage[] = [];
  body.messages.forEach((m, i) => {
    const where = `messages[${i}]`;
    if (!isObject(m)) throw new TranslationError(`${where} is not an object`);
    switch (m.role) {
      case 'system':
      case 'developer':
        system.push(textOf(readParts(m.content, where), where));
        return;
      case 'user':
        pushMessage(messages, 'user', readParts(m.content, where));
        return;
      case 'assistant': {
        const parts = readParts(m.content, where);
        if (typeof m.refusal === 'string' && m.refusal !== '') parts.push({ type: 'text', text: m.refusal });
        if (Array.isArray(m.tool_calls)) {
          for (const tc of m.tool_calls) {
            if (!isObject(tc) || !isObject(tc.function))
              throw new TranslationError(`${where} has a malformed tool call`);
            parts.push({
              type: 'tool_call',
              id: str(tc.id) ?? '',
              name: str(tc.function.name) ?? '',
              arguments: str(tc.function.arguments) ?? '{}',
            });
          }
        }
        pushMessage(messages, 'assistant', parts);
        return;
      }
      case 'tool': {
        const content = readParts(m.content, where).filter((p) => p.type === 'text' || p.type === 'image');
        pushMessage(messages, 'user', [
          { type: 'tool_result', id: str(m.tool_call_id) ?? '', content, isError: false },
        ]);
        return;
      }
      default:
        throw new TranslationError(`${where} has role ${String(m.role)}, which cannot be translated`);
    }
  });
  const stop =
    typeof body.stop === 'string'
      ? [body.stop]
      : Array.isArray(body.stop)
        ? body.stop.filter((s) => typeof s === 'string')
        : undefined;
  const effort = str(body.reasoning_effort);
  return {
    model,
    system,
    messages,
    tools: readTools(body.tools),
    hostedTools: [],
    toolChoice: readChoice(body.tool_choice),
    parallelToolCalls: typeof body.parallel_tool_calls === 'boolean' ? body.parallel_tool_calls : undefined,
    maxTokens: numOr(body.max_completion_tokens) ?? numOr(body.max_tokens),
    temperature: numOr(body.temperature),
    topP: numOr(body.top_p),
    stop,
    stream: body.stream === true,
    reasoning:
      effort === 'minimal' || effort === 'low' || effort === 'medium' || effort === 'high'
        ? { effort }
        : undefined,
    user: str(body.safety_identifier) ?? str(body.user),
  };
}

function imagePart(img: IrImage): Record<string, unknown> {
  return { type: 'image_url', image_url: { url: imageUrl(img) } };
}

/** The tool calls among the parts, as Chat Completions lists them. */
function toolCalls(parts: IrPart[]): Record<string, unknown>[] {
  const calls: Record<string, unknown>[] = [];
  for (const p of parts) {
    if (p.type === 'tool_call')
      calls.push({ id: p.id, type: 'function', function: { name: p.name, arguments: argsText(p) } });
  }
  return calls;
}

function writeMessages(req: IrRequest): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  if (req.system.length > 0) out.push({ role: 'system', content: req.system.join('\n\n') });
  for (const m of req.messages) {
    if (m.role === 'assistant') {
      const text = joinedText(m.parts);
      const calls = toolCalls(m.parts);
      if (m.parts.some((p) => p.type === 'image'))
        throw new TranslationError('an assistant message holds an image');
      if (text === '' && calls.length === 0) continue;
      out.push({
        role: 'assistant',
        content: text === '' ? null : text,
        ...(calls.length > 0 ? { tool_calls: calls } : {}),
      });
      continue;
    }
    // A tool message carries only text: images a tool returned follow in a user message of their own.
    const images: Record<string, unknown>[] = [];
    for (const p of m.parts) {
      if (p.type !== 'tool_result') continue;
      const text = joinedText(p.content, 'text', '\n');
      const imgs = p.content.filter((c) => c.type === 'image');
      for (const img of imgs) images.push(imagePart(img));
      const note =
        imgs.length > 0
          ? `${text === '' ? '' : '\n'}(the tool returned ${imgs.length} image(s), attached below)`
          : '';
      out.push({ role: 'tool', tool_call_id: p.id, content: (p.isError ? 'Error: ' : '') + text + note });
    }
    const content: Record<string, unknown>[] = [...images];
    for (const p of m.parts) {
      if (p.type === 'text') content.push({ type: 'text', text: p.text });
      else if (p.type === 'image') content.push(imagePart(p));
    }
    if (content.length === 0) continue;
    out.push({
      role: 'user',
      content: content.length === 1 && content[0].type === 'text' ? content[0].text : content,
    });
  }
  return out;
}

export function writeChoice(tc: IrToolChoice): unknown {
  return tc.type === 'tool' ? { type: 'function', function: { name: tc.name } } : tc.type;
}

function writeRequest(req: IrRequest): Record<string, unknown> {
  const out: Record<string, unknown> = { model: req.model, messages: writeMessages(req) };
  if (req.tools.length > 0) {
    out.tools = req.tools.map((t) => ({
      type: 'function',
      function: { name: t.name, description: t.description, parameters: t.parameters },
    }));
    if (req.toolChoice !== undefined) out.tool_choice = writeChoice(req.toolChoice);
    if (req.parallelToolCalls !== undefined) out.parallel_tool_calls = req.parallelToolCalls;
  }
  if (req.maxTokens !== undefined) out.max_completion_tokens = req.maxTokens;
  if (req.temperature !== undefined) out.temperature = req.temperature;
  if (req.topP !== undefined) out.top_p = req.topP;
  if (req.topK !== undefined) ignore(req, 'top_k (OpenAI samples without it)');
  if (req.stop !== undefined && req.stop.length > 0) out.stop = req.stop;
  if (req.reasoning !== undefined) out.reasoning_effort = effortOf(req.reasoning);
  if (req.user !== undefined) out.safety_identifier = safetyIdentifier(req.user);
  if (req.stream) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  return out;
}

/** A reasoning budget in tokens as OpenAI's effort levels. */
export function effortOf(r: NonNullable<IrRequest['reasoning']>): string {
  if (r.effort !== undefined) return r.effort;
  const b = r.budgetTokens ?? 8192;
  return b < 4096 ? 'low' : b < 16384 ? 'medium' : 'high';
}

const STOP_IN: Record<string, IrStop> = {
  stop: 'end',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'content_filter',
};
const STOP_OUT: Record<IrStop, string> = {
  end: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  stop_sequence: 'stop',
  content_filter: 'content_filter',
  refusal: 'content_filter',
};

function readResponse(body: unknown): IrResponse {
  const choice = isObject(body) && Array.isArray(body.choices) ? body.choices[0] : undefined;
  if (!isObject(body) || !isObject(choice) || !isObject(choice.message))
    throw new TranslationError('the Chat Completions answer has no choice', 502, 'bad_upstream_answer');
  const m = choice.message;
  const parts: IrPart[] = [];
  const reasoning = str(m.reasoning_content) ?? str(m.reasoning);
  if (reasoning !== undefined && reasoning !== '') parts.push({ type: 'thinking', text: reasoning });
  if (typeof m.content === 'string' && m.content !== '') parts.push({ type: 'text', text: m.content });
  if (typeof m.refusal === 'string' && m.refusal !== '') parts.push({ type: 'text', text: m.refusal });
  if (Array.isArray(m.tool_calls)) {
    for (const tc of m.tool_calls) {
      if (isObject(tc) && isObject(tc.function))
        parts.push({
          type: 'tool_call',
          id: str(tc.id) ?? '',
          name: str(tc.function.name) ?? '',
          arguments: str(tc.function.arguments) ?? '{}',
        });
    }
  }
  let stop = STOP_IN[str(choice.finish_reason) ?? ''] ?? 'end';
  if (typeof m.refusal === 'string' && m.refusal !== '') stop = 'refusal';
  return {
    id: str(body.id) ?? '',
    model: str(body.model) ?? '',
    parts,
    stop,
    usage: openaiUsage(body.usage) ?? fullUsage(undefined),
  };
}

function usageOut(u: TokenUsage): Record<string, unknown> {
  const prompt = promptTokens(u);
  return {
    prompt_tokens: prompt,
    completion_tokens: u.outputTokens,
    total_tokens: prompt + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cachedInputTokens },
  };
}

function chatId(id: string): string {
  return id.startsWith('chatcmpl-') ? id : `chatcmpl-${id}`;
}

function writeResponse(res: IrResponse, ctx: AnswerContext): unknown {
  const text = joinedText(res.parts);
  const reasoning = joinedText(res.parts, 'thinking');
  const calls = toolCalls(res.parts);
  return {
    id: chatId(res.id),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: ctx.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text === '' && calls.length > 0 ? null : text,
          refusal: null,
          ...(reasoning !== '' ? { reasoning_content: reasoning } : {}),
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
        },
        logprobs: null,
        finish_reason: STOP_OUT[res.stop],
      },
    ],
    usage: usageOut(res.usage),
  };
}

class Reader implements StreamReader {
  #started = false;
  #tools = new Map<number, string>();
  #stopped = false;
  #done = false;
  read(ev: Parameters<StreamReader['read']>[0], out: IrEvent[]): void {
    if (ev.data === '[DONE]') {
      this.#done = true;
      out.push({ type: 'end' });
      return;
    }
    const chunk = eventJson(ev);
    if (!isObject(chunk)) return;
    if (isObject(chunk.error)) {
      out.push({ type: 'error', status: 500, message: str(chunk.error.message) ?? 'upstream error' });
      return;
    }
    if (!this.#started) {
      this.#started = true;
      out.push({ type: 'start', id: str(chunk.id) ?? '', model: str(chunk.model) ?? '' });
    }
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    if (isObject(choice)) {
      const d = isObject(choice.delta) ? choice.delta : {};
      const reasoning = str(d.reasoning_content) ?? str(d.reasoning);
      if (reasoning !== undefined && reasoning !== '') out.push({ type: 'thinking', text: reasoning });
      if (typeof d.content === 'string' && d.content !== '') out.push({ type: 'text', text: d.content });
      if (typeof d.refusal === 'string' && d.refusal !== '') out.push({ type: 'text', text: d.refusal });
      if (Array.isArray(d.tool_calls)) {
        for (const tc of d.tool_calls) {
          if (!isObject(tc)) continue;
          const index = numOr(tc.index) ?? 0;
          const fn = isObject(tc.function) ? tc.function : {};
          if (!this.#tools.has(index)) {
            const id = str(tc.id) ?? `call_${index}`;
            this.#tools.set(index, id);
            out.push({ type: 'tool_start', id, name: str(fn.name) ?? '' });
          }
          if (typeof fn.arguments === 'string' && fn.arguments !== '')
            out.push({ type: 'tool_args', text: fn.arguments });
        }
      }
      if (typeof choice.finish_reason === 'string') {
        this.#stopped = true;
        out.push({ type: 'stop', reason: STOP_IN[choice.finish_reason] ?? 'end' });
      }
    }
    const u = openaiUsage(chunk.usage);
    if (u !== null) out.push({ type: 'usage', usage: u });
  }
  end(out: IrEvent[]): void {
    if (this.#done) return;
    // No [DONE]: a stream cut before its finish is an error; one that finished just lacked the marker.
    streamEnd(out, this.#stopped);
  }
}

class Writer implements StreamWriter {
  readonly #ctx: AnswerContext;
  #head = '';
  #started = false;
  #tool = -1;
  #usage = fullUsage(undefined);
  #stop: IrStop = 'end';
  #done = false;
  constructor(ctx: AnswerContext) {
    this.#ctx = ctx;
  }
  #chunk(delta: Record<string, unknown>, finish: string | null = null): string {
    return `data: {${this.#head},"choices":[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`}}]}\n\n`;
  }
  write(ev: IrEvent): string {
    if (this.#done) return '';
    let out = '';
    if (!this.#started && ev.type !== 'error') {
      this.#started = true;
      const id = ev.type === 'start' ? ev.id : '';
      this.#head = `"id":${JSON.stringify(chatId(id))},"object":"chat.completion.chunk","created":${Math.floor(Date.now() / 1000)},"model":${JSON.stringify(this.#ctx.model)}`;
      out = this.#chunk({ role: 'assistant', content: '' });
    }
    switch (ev.type) {
      case 'start':
      case 'signature':
        return out;
      case 'text':
        return out + this.#chunk({ content: ev.text });
      case 'thinking':
        return ev.text === '' ? out : out + this.#chunk({ reasoning_content: ev.text });
      case 'tool_start':
        this.#tool++;
        return (
          out +
          this.#chunk({
            tool_calls: [
              { index: this.#tool, id: ev.id, type: 'function', function: { name: ev.name, arguments: '' } },
            ],
          })
        );
      case 'tool_args':
        return out + this.#chunk({ tool_calls: [{ index: this.#tool, function: { arguments: ev.text } }] });
      case 'usage':
        Object.assign(this.#usage, ev.usage);
        return out;
      case 'stop':
        this.#stop = ev.reason;
        return out;
      case 'error':
        this.#done = true;
        return `${out}data: ${JSON.stringify({ error: { message: ev.message, type: ev.status === 429 ? 'rate_limit_error' : 'server_error', code: null } })}\n\n`;
      case 'end': {
        this.#done = true;
        out += this.#chunk({}, STOP_OUT[this.#stop]);
        if (this.#ctx.streamUsage === true)
          out += `data: {${this.#head},"choices":[],"usage":${JSON.stringify(usageOut(this.#usage))}}\n\n`;
        return `${out}data: [DONE]\n\n`;
      }
    }
  }
}

export const chatFormat: WireFormat = {
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
