// Gemini generateContent ⇄ the neutral shapes: requests, answers, stream events and errors.
import { geminiUsage } from '../gemini.ts';
import { eventJson } from '../sse.ts';
import { isObject, type TokenUsage } from '../types.ts';
import type { AnswerContext, StreamReader, StreamWriter, WireFormat } from './format.ts';
import {
  argsObject,
  argsText,
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
  joinedText,
  numOr,
  promptTokens,
  pushMessage,
  str,
  streamEnd,
  TranslationError,
} from './ir.ts';

const READ = new Set([
  'contents',
  'systemInstruction',
  'system_instruction',
  'tools',
  'toolConfig',
  'tool_config',
  'generationConfig',
  'generation_config',
  'model',
]);
/** Gemini-only settings with no bearing on another provider's answer; left out when translating. */
const GEMINI_ONLY = new Set(['safetySettings', 'safety_settings', 'labels']);
const CONFIG_READ = new Set([
  'maxOutputTokens',
  'temperature',
  'topP',
  'topK',
  'stopSequences',
  'thinkingConfig',
  'candidateCount',
  'responseMimeType',
]);

/**
 * Gemini 3 signs its function calls and wants the signature back with the call; other formats have no
 * place for it but the call's id, which clients return verbatim. `gsig_<n>_<base64url signature>`.
 */
function callId(n: number, signature: string | undefined): string {
  if (signature === undefined) return `call_gem_${n}`;
  return `gsig_${n}_${Buffer.from(signature, 'utf8').toString('base64url')}`;
}

function signatureOf(id: string): string | undefined {
  const m = /^gsig_\d+_([A-Za-z0-9_-]+)$/.exec(id);
  return m === null ? undefined : Buffer.from(m[1], 'base64url').toString('utf8');
}

let callSeq = 0;

function readTools(tools: unknown, hosted: string[]): IrTool[] {
  if (!Array.isArray(tools)) return [];
  const out: IrTool[] = [];
  tools.forEach((t, i) => {
    if (!isObject(t)) throw new TranslationError(`tools[${i}] is not an object`);
    for (const k of Object.keys(t)) {
      if (k !== 'functionDeclarations' && k !== 'function_declarations')
        hosted.push(`${k} (Gemini built-in tool)`);
    }
    const decls = t.functionDeclarations ?? t.function_declarations;
    if (!Array.isArray(decls)) return;
    for (const d of decls) {
      if (!isObject(d)) continue;
      const schema = d.parametersJsonSchema ?? d.parameters_json_schema ?? d.parameters;
      out.push({
        name: str(d.name) ?? '',
        description: str(d.description) ?? '',
        parameters: isObject(schema) ? lowerTypes(schema) : { type: 'object', properties: {} },
      });
    }
  });
  return out;
}

/** Gemini's OpenAPI-style schemas may spell types in capitals (`OBJECT`); JSON Schema wants them lower-case. */
function lowerTypes(schema: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'type' && typeof v === 'string') out[k] = v.toLowerCase();
    else if (Array.isArray(v)) out[k] = v.map((x) => (isObject(x) ? lowerTypes(x) : x));
    else if (isObject(v)) out[k] = lowerTypes(v);
    else out[k] = v;
  }
  return out;
}

function readChoice(cfg: unknown): IrToolChoice | undefined {
  const fc = isObject(cfg) ? (cfg.functionCallingConfig ?? cfg.function_calling_config) : undefined;
  if (!isObject(fc)) return undefined;
  const names = fc.allowedFunctionNames ?? fc.allowed_function_names;
  switch (fc.mode) {
    case 'NONE':
      return { type: 'none' };
    case 'ANY':
      if (Array.isArray(names) && names.length === 1 && typeof names[0] === 'string')
        return { type: 'tool', name: names[0] };
      if (Array.isArray(names) && names.length > 1)
        throw new TranslationError('a choice among several named functions cannot be translated');
      return { type: 'required' };
    default:
      return { type: 'auto' };
  }
}

function readRequest(body: Record<string, unknown>, model: string): IrRequest {
  for (const k of Object.keys(body)) {
    if (!READ.has(k) && !GEMINI_ONLY.has(k))
      throw new TranslationError(`the request field ${k} cannot be translated for another provider`);
  }
  const cfg = body.generationConfig ?? body.generation_config;
  const gc = isObject(cfg) ? cfg : {};
  for (const k of Object.keys(gc)) {
    if (!CONFIG_READ.has(k))
      throw new TranslationError(`generationConfig.${k} cannot be translated for another provider`);
  }
  if (gc.candidateCount !== undefined && gc.candidateCount !== 1)
    throw new TranslationError('only one candidate can be translated');
  if (gc.responseMimeType !== undefined && gc.responseMimeType !== 'text/plain')
    throw new TranslationError(`responseMimeType ${String(gc.responseMimeType)} cannot be translated`);
  const sys = body.systemInstruction ?? body.system_instruction;
  const system: string[] = [];
  if (isObject(sys) && Array.isArray(sys.parts)) {
    for (const p of sys.parts) if (isObject(p) && typeof p.text === 'string') system.push(p.text);
  } else if (typeof sys === 'string') system.push(sys);
  const messages: IrMessage[] = [];
  /** Ids of calls not yet answered, by function name: Gemini API responses match calls by name and order. */
  const pending = new Map<string, string[]>();
  if (!Array.isArray(body.contents)) throw new TranslationError('the request has no contents');
  body.contents.forEach((c, i) => {
    if (!isObject(c) || !Array.isArray(c.parts)) throw new TranslationError(`contents[${i}] has no parts`);
    const role = c.role === 'model' ? 'assistant' : 'user';
    const parts: IrPart[] = [];
    c.parts.forEach((p, j) => {
      const where = `contents[${i}].parts[${j}]`;
      if (!isObject(p)) throw new TranslationError(`${where} is not an object`);
      if (typeof p.text === 'string') {
        if (p.thought === true) parts.push({ type: 'thinking', text: p.text });
        else parts.push({ type: 'text', text: p.text });
      } else if (isObject(p.inlineData ?? p.inline_data)) {
        const d = (p.inlineData ?? p.inline_data) as Record<string, unknown>;
        const mediaType = str(d.mimeType ?? d.mime_type) ?? '';
        if (!mediaType.startsWith('image/'))
          throw new TranslationError(`${where} is inline ${mediaType} data; only images can be translated`);
        parts.push({ type: 'image', mediaType, data: str(d.data) ?? '' });
      } else if (isObject(p.functionCall ?? p.function_call)) {
        const fc = (p.functionCall ?? p.function_call) as Record<string, unknown>;
        const name = str(fc.name) ?? '';
        const id = str(fc.id) ?? callId(++callSeq, str(p.thoughtSignature ?? p.thought_signature));
        const ids = pending.get(name) ?? [];
        ids.push(id);
        pending.set(name, ids);
        parts.push({ type: 'tool_call', id, name, input: fc.args ?? {} });
      } else if (isObject(p.functionResponse ?? p.function_response)) {
        const fr = (p.functionResponse ?? p.function_response) as Record<string, unknown>;
        const name = str(fr.name) ?? '';
        const id = str(fr.id) ?? pending.get(name)?.shift() ?? `call_gem_${++callSeq}`;
        const response = isObject(fr.response) ? fr.response : {};
        const isError = 'error' in response && !('output' in response);
        const value = isError ? response.error : 'output' in response ? response.output : response;
        parts.push({
          type: 'tool_result',
          id,
          content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value) }],
          isError,
        });
      } else if (typeof p.thoughtSignature === 'string' || typeof p.thought_signature === 'string') {
        // A bare signature part carries nothing another provider can use.
      } else {
        throw new TranslationError(
          `${where} is a kind of part (${Object.keys(p).join(', ')}) that cannot be translated`,
        );
      }
    });
    pushMessage(messages, role, parts);
  });
  const hostedTools: string[] = [];
  const thinking = isObject(gc.thinkingConfig) ? gc.thinkingConfig : undefined;
  const budget = numOr(thinking?.thinkingBudget);
  const level = str(thinking?.thinkingLevel)?.toLowerCase();
  return {
    model,
    system,
    messages,
    tools: readTools(body.tools, hostedTools),
    hostedTools,
    toolChoice: readChoice(body.toolConfig ?? body.tool_config),
    maxTokens: numOr(gc.maxOutputTokens),
    temperature: numOr(gc.temperature),
    topP: numOr(gc.topP),
    topK: numOr(gc.topK),
    stop: Array.isArray(gc.stopSequences) ? gc.stopSequences.filter((s) => typeof s === 'string') : undefined,
    stream: false,
    reasoning:
      budget !== undefined && budget > 0
        ? { budgetTokens: budget }
        : level === 'low' || level === 'medium' || level === 'high' || level === 'minimal'
          ? { effort: level }
          : undefined,
  };
}

function imagePart(img: IrImage): Record<string, unknown> {
  if ('url' in img)
    throw new TranslationError(
      'an image given by URL cannot be sent to a Gemini model; send the image data instead',
    );
  return { inlineData: { mimeType: img.mediaType, data: img.data } };
}

/** JSON Schema as Gemini's `parametersJsonSchema` takes it (no `$schema` declaration). */
function schemaFor(s: Record<string, unknown>): Record<string, unknown> {
  if (!('$schema' in s)) return s;
  const { $schema: _, ...rest } = s;
  return rest;
}

const EFFORT_BUDGET = { minimal: 0, low: 2048, medium: 8192, high: 24576 } as const;

function writeRequest(req: IrRequest): Record<string, unknown> {
  const names = new Map<string, string>();
  const contents: Record<string, unknown>[] = [];
  for (const m of req.messages) {
    const parts: Record<string, unknown>[] = [];
    let signed = false;
    for (const p of m.parts) {
      switch (p.type) {
        case 'text':
          if (p.text !== '') parts.push({ text: p.text });
          break;
        case 'image':
          parts.push(imagePart(p));
          break;
        case 'tool_call': {
          names.set(p.id, p.name);
          const part: Record<string, unknown> = {
            functionCall: { name: p.name, args: argsValue(p) },
          };
          const sig = signatureOf(p.id);
          if (sig !== undefined) {
            part.thoughtSignature = sig;
            signed = true;
          }
          parts.push(part);
          break;
        }
        case 'tool_result': {
          const name = names.get(p.id);
          if (name === undefined)
            throw new TranslationError(
              `a tool result answers call ${p.id}, which the conversation does not hold`,
            );
          const text = joinedText(p.content, 'text', '\n');
          parts.push({
            functionResponse: { name, response: p.isError ? { error: text } : { output: text } },
          });
          for (const c of p.content) if (c.type === 'image') parts.push(imagePart(c));
          break;
        }
        case 'thinking':
          // Another provider's reasoning cannot be handed to a Gemini model.
          break;
      }
    }
    // Gemini 3 wants a signature on the first call of a turn; calls made elsewhere get Google's documented skip value.
    if (!signed) {
      const first = parts.find((p) => 'functionCall' in p);
      if (first !== undefined) first.thoughtSignature = 'skip_thought_signature_validator';
    }
    if (parts.length > 0) contents.push({ role: m.role === 'assistant' ? 'model' : 'user', parts });
  }
  const out: Record<string, unknown> = { contents };
  if (req.system.length > 0) out.systemInstruction = { parts: req.system.map((text) => ({ text })) };
  if (req.tools.length > 0) {
    out.tools = [
      {
        functionDeclarations: req.tools.map((t) => ({
          name: t.name,
          description: t.description,
          parametersJsonSchema: schemaFor(t.parameters),
        })),
      },
    ];
    const tc = req.toolChoice;
    if (tc !== undefined) {
      out.toolConfig = {
        functionCallingConfig:
          tc.type === 'tool'
            ? { mode: 'ANY', allowedFunctionNames: [tc.name] }
            : { mode: tc.type === 'required' ? 'ANY' : tc.type === 'none' ? 'NONE' : 'AUTO' },
      };
    }
  }
  const gc: Record<string, unknown> = {};
  if (req.maxTokens !== undefined) gc.maxOutputTokens = req.maxTokens;
  if (req.temperature !== undefined) gc.temperature = req.temperature;
  if (req.topP !== undefined) gc.topP = req.topP;
  if (req.topK !== undefined) gc.topK = req.topK;
  if (req.stop !== undefined && req.stop.length > 0) gc.stopSequences = req.stop.slice(0, 5);
  const r = req.reasoning;
  if (r !== undefined) {
    gc.thinkingConfig = {
      thinkingBudget: r.budgetTokens ?? EFFORT_BUDGET[r.effort ?? 'medium'],
      includeThoughts: true,
    };
  }
  if (Object.keys(gc).length > 0) out.generationConfig = gc;
  return out;
}

const STOP_IN: Record<string, IrStop> = {
  STOP: 'end',
  MAX_TOKENS: 'max_tokens',
  SAFETY: 'content_filter',
  RECITATION: 'content_filter',
  BLOCKLIST: 'content_filter',
  PROHIBITED_CONTENT: 'content_filter',
  SPII: 'content_filter',
  IMAGE_SAFETY: 'content_filter',
};
const STOP_OUT: Record<IrStop, string> = {
  end: 'STOP',
  max_tokens: 'MAX_TOKENS',
  tool_use: 'STOP',
  stop_sequence: 'STOP',
  content_filter: 'SAFETY',
  refusal: 'SAFETY',
};

/** The parts of one answer chunk: text, thoughts and calls (each call's id made here). */
function readAnswerParts(parts: unknown[], out: IrPart[]): void {
  for (const p of parts) {
    if (!isObject(p)) continue;
    if (typeof p.text === 'string') {
      if (p.thought === true) out.push({ type: 'thinking', text: p.text });
      else if (p.text !== '') out.push({ type: 'text', text: p.text });
    } else if (isObject(p.functionCall)) {
      const fc = p.functionCall;
      out.push({
        type: 'tool_call',
        id: str(fc.id) ?? callId(++callSeq, str(p.thoughtSignature)),
        name: str(fc.name) ?? '',
        input: fc.args ?? {},
      });
    }
  }
}

function candidateOf(body: Record<string, unknown>): Record<string, unknown> | undefined {
  const c = Array.isArray(body.candidates) ? body.candidates[0] : undefined;
  return isObject(c) ? c : undefined;
}

function stopOf(reason: string | undefined, called: boolean): IrStop {
  if (reason === undefined || reason === 'STOP') return called ? 'tool_use' : 'end';
  if (reason === 'MALFORMED_FUNCTION_CALL')
    throw new TranslationError(
      'the Gemini model produced a malformed function call',
      502,
      'bad_upstream_answer',
    );
  return STOP_IN[reason] ?? 'end';
}

function readResponse(body: unknown): IrResponse {
  if (!isObject(body))
    throw new TranslationError('the Gemini answer is not an object', 502, 'bad_upstream_answer');
  const cand = candidateOf(body);
  const parts: IrPart[] = [];
  const content = cand !== undefined && isObject(cand.content) ? cand.content : undefined;
  if (content !== undefined && Array.isArray(content.parts)) readAnswerParts(content.parts, parts);
  const blocked =
    cand === undefined && isObject(body.promptFeedback) && body.promptFeedback.blockReason !== undefined;
  return {
    id: str(body.responseId) ?? '',
    model: str(body.modelVersion) ?? '',
    parts,
    stop: blocked
      ? 'content_filter'
      : stopOf(
          str(cand?.finishReason),
          parts.some((p) => p.type === 'tool_call'),
        ),
    usage: geminiUsage(body.usageMetadata) ?? fullUsage(undefined),
  };
}

function usageOut(u: TokenUsage): Record<string, unknown> {
  const prompt = promptTokens(u);
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: u.outputTokens,
    totalTokenCount: prompt + u.outputTokens,
    ...(u.cachedInputTokens > 0 ? { cachedContentTokenCount: u.cachedInputTokens } : {}),
  };
}

function writePartsOut(parts: IrPart[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const p of parts) {
    if (p.type === 'text') out.push({ text: p.text });
    else if (p.type === 'thinking' && p.text !== '') out.push({ text: p.text, thought: true });
    else if (p.type === 'tool_call')
      out.push({ functionCall: { name: p.name, args: argsValue(p), id: p.id } });
  }
  return out;
}

function writeResponse(res: IrResponse, ctx: AnswerContext): unknown {
  return {
    candidates: [
      {
        content: { role: 'model', parts: writePartsOut(res.parts) },
        finishReason: STOP_OUT[res.stop],
        index: 0,
      },
    ],
    usageMetadata: usageOut(res.usage),
    modelVersion: ctx.model,
    responseId: res.id,
  };
}

class Reader implements StreamReader {
  #started = false;
  #called = false;
  #stopped = false;
  read(ev: Parameters<StreamReader['read']>[0], out: IrEvent[]): void {
    const msg = eventJson(ev);
    if (!isObject(msg)) return;
    if (isObject(msg.error)) {
      out.push({
        type: 'error',
        status: numOr(msg.error.code) ?? 500,
        message: str(msg.error.message) ?? 'upstream error',
      });
      return;
    }
    if (!this.#started) {
      this.#started = true;
      out.push({ type: 'start', id: str(msg.responseId) ?? '', model: str(msg.modelVersion) ?? '' });
    }
    const cand = candidateOf(msg);
    const content = cand !== undefined && isObject(cand.content) ? cand.content : undefined;
    if (content !== undefined && Array.isArray(content.parts)) {
      const parts: IrPart[] = [];
      readAnswerParts(content.parts, parts);
      for (const p of parts) {
        if (p.type === 'text') out.push({ type: 'text', text: p.text });
        else if (p.type === 'thinking') out.push({ type: 'thinking', text: p.text });
        else if (p.type === 'tool_call') {
          this.#called = true;
          out.push({ type: 'tool_start', id: p.id, name: p.name }, { type: 'tool_args', text: argsText(p) });
        }
      }
    }
    const u = geminiUsage(msg.usageMetadata);
    if (u !== null) out.push({ type: 'usage', usage: u });
    const reason = str(cand?.finishReason);
    if (reason !== undefined) {
      this.#stopped = true;
      if (reason === 'MALFORMED_FUNCTION_CALL')
        out.push({
          type: 'error',
          status: 502,
          message: 'the Gemini model produced a malformed function call',
        });
      else out.push({ type: 'stop', reason: stopOf(reason, this.#called) });
    } else if (
      cand === undefined &&
      isObject(msg.promptFeedback) &&
      msg.promptFeedback.blockReason !== undefined
    ) {
      this.#stopped = true;
      out.push({ type: 'stop', reason: 'content_filter' });
    }
  }
  end(out: IrEvent[]): void {
    // Gemini streams have no closing event: the finish reason marks a complete answer.
    streamEnd(out, this.#stopped);
  }
}

class Writer implements StreamWriter {
  readonly #ctx: AnswerContext;
  #id = '';
  #call: { id: string; name: string; args: string } | null = null;
  #usage = fullUsage(undefined);
  #stop: IrStop = 'end';
  #done = false;
  constructor(ctx: AnswerContext) {
    this.#ctx = ctx;
  }
  #chunk(parts: Record<string, unknown>[], finish?: string): string {
    const cand: Record<string, unknown> = { content: { role: 'model', parts }, index: 0 };
    if (finish !== undefined) cand.finishReason = finish;
    return `data: ${JSON.stringify({ candidates: [cand], usageMetadata: usageOut(this.#usage), modelVersion: this.#ctx.model, responseId: this.#id })}\r\n\r\n`;
  }
  /** A call goes out whole, as Gemini sends them, once its arguments are complete. */
  #flushCall(): string {
    const c = this.#call;
    if (c === null) return '';
    this.#call = null;
    return this.#chunk([{ functionCall: { name: c.name, args: argsObject(c.args, c.name), id: c.id } }]);
  }
  write(ev: IrEvent): string {
    if (this.#done) return '';
    switch (ev.type) {
      case 'start':
        this.#id = ev.id;
        if (ev.usage !== undefined) Object.assign(this.#usage, ev.usage);
        return '';
      case 'text':
        return ev.text === '' ? this.#flushCall() : this.#flushCall() + this.#chunk([{ text: ev.text }]);
      case 'thinking':
        return ev.text === ''
          ? this.#flushCall()
          : this.#flushCall() + this.#chunk([{ text: ev.text, thought: true }]);
      case 'signature':
        return '';
      case 'tool_start': {
        const out = this.#flushCall();
        this.#call = { id: ev.id, name: ev.name, args: '' };
        return out;
      }
      case 'tool_args':
        if (this.#call !== null) this.#call.args += ev.text;
        return '';
      case 'usage':
        Object.assign(this.#usage, ev.usage);
        return '';
      case 'stop':
        this.#stop = ev.reason;
        return '';
      case 'error':
        this.#done = true;
        return `data: ${JSON.stringify({ error: { code: ev.status, message: ev.message, status: ev.status === 429 ? 'RESOURCE_EXHAUSTED' : 'INTERNAL' } })}\r\n\r\n`;
      case 'end':
        this.#done = true;
        return this.#flushCall() + this.#chunk([], STOP_OUT[this.#stop]);
    }
  }
}

export const geminiFormat: WireFormat = {
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
