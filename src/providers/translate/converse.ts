// Amazon Bedrock's Converse API as an upstream: requests written from the neutral shape, answers and
// ConverseStream events read back into it. No client speaks Converse to the gateway, so its reader of
// requests and writers of answers refuse.
import { eventJson, type SseEvent } from '../sse.ts';
import { SseUsageTracker } from '../tracker.ts';
import { emptyUsage, isObject, num, type TokenUsage } from '../types.ts';
import { EFFORT_BUDGET } from './anthropic.ts';
import type { UsageReader } from './exchange.ts';
import type { StreamReader, StreamWriter, WireFormat } from './format.ts';
import {
  argsValue,
  fullUsage,
  type IrEvent,
  type IrImage,
  type IrPart,
  type IrRequest,
  type IrResponse,
  type IrStop,
  ignore,
  str,
  streamEnd,
  TranslationError,
} from './ir.ts';

const IMAGE_FORMATS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

function image(img: IrImage): Record<string, unknown> {
  if ('url' in img)
    throw new TranslationError(
      'an image given by URL cannot be sent through Bedrock Converse; send the image data',
    );
  const format = IMAGE_FORMATS[img.mediaType];
  if (format === undefined)
    throw new TranslationError(`Bedrock Converse does not take ${img.mediaType} images`);
  return { image: { format, source: { bytes: img.data } } };
}

function block(p: IrPart, anthropicModel: boolean): Record<string, unknown> | null {
  switch (p.type) {
    case 'text':
      return p.text === '' ? null : { text: p.text };
    case 'image':
      return image(p);
    case 'tool_call':
      return { toolUse: { toolUseId: p.id, name: p.name, input: argsValue(p) } };
    case 'tool_result':
      return {
        toolResult: {
          toolUseId: p.id,
          content: p.content.map((c) => (c.type === 'text' ? { text: c.text } : image(c))),
          ...(p.isError ? { status: 'error' } : {}),
        },
      };
    case 'thinking':
      // Only Claude's own signed reasoning goes back, as Converse carries it.
      if (!anthropicModel || p.signature === undefined || p.signature.startsWith('redacted:')) return null;
      return { reasoningContent: { reasoningText: { text: p.text, signature: p.signature } } };
  }
}

function writeRequest(req: IrRequest): Record<string, unknown> {
  const claude = req.model.includes('anthropic.');
  const messages = req.messages
    .map((m) => {
      const content = m.parts.map((p) => block(p, claude)).filter((b) => b !== null);
      if (m.role === 'user') content.sort((a, b) => Number('toolResult' in b) - Number('toolResult' in a));
      return { role: m.role, content };
    })
    .filter((m) => m.content.length > 0);
  const out: Record<string, unknown> = { messages };
  if (req.system.length > 0) out.system = req.system.map((text) => ({ text }));
  const inference: Record<string, unknown> = {};
  if (req.maxTokens !== undefined) inference.maxTokens = req.maxTokens;
  if (req.temperature !== undefined) inference.temperature = req.temperature;
  if (req.topP !== undefined) inference.topP = req.topP;
  if (req.topK !== undefined) ignore(req, 'top_k (Converse takes it only per model)');
  if (req.stop !== undefined && req.stop.length > 0) inference.stopSequences = req.stop;
  if (req.tools.length > 0) {
    const tc = req.toolChoice;
    if (tc?.type === 'none')
      throw new TranslationError('Bedrock Converse has no tool choice "none"; leave the tools out instead');
    out.toolConfig = {
      tools: req.tools.map((t) => ({
        toolSpec: { name: t.name, description: t.description || t.name, inputSchema: { json: t.parameters } },
      })),
      ...(tc === undefined || tc.type === 'auto'
        ? {}
        : { toolChoice: tc.type === 'required' ? { any: {} } : { tool: { name: tc.name } } }),
    };
  }
  const r = req.reasoning;
  if (claude && r !== undefined && r.effort !== 'minimal') {
    const max = req.maxTokens ?? 32000;
    const budget = Math.min(r.budgetTokens ?? EFFORT_BUDGET[r.effort ?? 'medium'], max - 1024);
    if (budget >= 1024) {
      out.additionalModelRequestFields = { thinking: { type: 'enabled', budget_tokens: budget } };
      delete inference.temperature;
      delete inference.topP;
    }
  }
  if (Object.keys(inference).length > 0) out.inferenceConfig = inference;
  return out;
}

const STOP_IN: Record<string, IrStop> = {
  end_turn: 'end',
  tool_use: 'tool_use',
  max_tokens: 'max_tokens',
  stop_sequence: 'stop_sequence',
  guardrail_intervened: 'content_filter',
  content_filtered: 'content_filter',
  model_context_window_exceeded: 'max_tokens',
};

/** Converse usage: `inputTokens` excludes cache reads and writes, which it counts apart. */
export function converseUsage(u: unknown): TokenUsage | null {
  if (!isObject(u)) return null;
  const usage = emptyUsage();
  usage.inputTokens = num(u.inputTokens);
  usage.outputTokens = num(u.outputTokens);
  usage.cachedInputTokens = num(u.cacheReadInputTokens);
  usage.cacheWriteTokens = num(u.cacheWriteInputTokens);
  return usage;
}

function readResponse(body: unknown): IrResponse {
  const msg = isObject(body) && isObject(body.output) ? body.output.message : undefined;
  if (!isObject(body) || !isObject(msg) || !Array.isArray(msg.content))
    throw new TranslationError('the Converse answer has no message', 502, 'bad_upstream_answer');
  const parts: IrPart[] = [];
  for (const c of msg.content) {
    if (!isObject(c)) continue;
    if (typeof c.text === 'string') parts.push({ type: 'text', text: c.text });
    else if (isObject(c.toolUse))
      parts.push({
        type: 'tool_call',
        id: str(c.toolUse.toolUseId) ?? '',
        name: str(c.toolUse.name) ?? '',
        input: c.toolUse.input ?? {},
      });
    else if (isObject(c.reasoningContent) && isObject(c.reasoningContent.reasoningText)) {
      const rt = c.reasoningContent.reasoningText;
      parts.push({ type: 'thinking', text: str(rt.text) ?? '', signature: str(rt.signature) || undefined });
    }
  }
  return {
    id: '',
    model: '',
    parts,
    stop: STOP_IN[str(body.stopReason) ?? ''] ?? 'end',
    usage: converseUsage(body.usage) ?? fullUsage(undefined),
  };
}

class Reader implements StreamReader {
  #started = false;
  #stopped = false;
  #done = false;
  read(ev: Parameters<StreamReader['read']>[0], out: IrEvent[]): void {
    const msg = eventJson(ev);
    if (!isObject(msg)) return;
    if (!this.#started) {
      this.#started = true;
      out.push({ type: 'start', id: '', model: '' });
    }
    switch (ev.event) {
      case 'contentBlockStart': {
        const start = isObject(msg.start) ? msg.start : {};
        if (isObject(start.toolUse))
          out.push({
            type: 'tool_start',
            id: str(start.toolUse.toolUseId) ?? '',
            name: str(start.toolUse.name) ?? '',
          });
        return;
      }
      case 'contentBlockDelta': {
        const d = isObject(msg.delta) ? msg.delta : {};
        if (typeof d.text === 'string') out.push({ type: 'text', text: d.text });
        else if (isObject(d.toolUse) && typeof d.toolUse.input === 'string')
          out.push({ type: 'tool_args', text: d.toolUse.input });
        else if (isObject(d.reasoningContent)) {
          if (typeof d.reasoningContent.text === 'string')
            out.push({ type: 'thinking', text: d.reasoningContent.text });
          if (typeof d.reasoningContent.signature === 'string')
            out.push({ type: 'signature', signature: d.reasoningContent.signature });
        }
        return;
      }
      case 'messageStop':
        this.#stopped = true;
        out.push({ type: 'stop', reason: STOP_IN[str(msg.stopReason) ?? ''] ?? 'end' });
        return;
      case 'metadata': {
        const u = converseUsage(msg.usage);
        if (u !== null) out.push({ type: 'usage', usage: u });
        this.#done = true;
        out.push({ type: 'end' });
        return;
      }
      default:
        if (ev.event.endsWith('Exception'))
          out.push({
            type: 'error',
            status: ev.event.startsWith('throttling') ? 429 : 500,
            message: str(msg.message) ?? ev.event,
          });
    }
  }
  end(out: IrEvent[]): void {
    if (this.#done) return;
    streamEnd(out, this.#stopped);
  }
}

class ConverseTracker extends SseUsageTracker {
  constructor() {
    super(false);
  }
  protected onEvent(ev: SseEvent): boolean {
    const msg = eventJson(ev);
    if (!isObject(msg)) return true;
    if (ev.event === 'contentBlockDelta' && isObject(msg.delta)) {
      const d = msg.delta;
      const text = typeof d.text === 'string' ? d.text : isObject(d.toolUse) ? d.toolUse.input : undefined;
      if (typeof text === 'string') this.textChars += text.length;
    } else if (ev.event === 'metadata') {
      const u = converseUsage(msg.usage);
      if (u !== null) {
        this.reported = u;
        this.outputReported = true;
      }
    }
    return true;
  }
}

/** Usage of Converse answers, whole or streamed. */
export const converseUsageReader: UsageReader = {
  usageFromJson: (_surface, body) => (isObject(body) ? converseUsage(body.usage) : null),
  streamTracker: () => new ConverseTracker(),
};

function notAClientFormat(): never {
  throw new TranslationError('Bedrock Converse is spoken to upstreams only');
}

export const converseFormat: WireFormat = {
  readRequest: notAClientFormat,
  writeRequest,
  readResponse,
  writeResponse: notAClientFormat,
  streamReader: () => new Reader(),
  streamWriter: (): StreamWriter => notAClientFormat(),
  errorMessage(body: unknown): string | undefined {
    return isObject(body) ? str(body.message) : undefined;
  },
};
