// The neutral shape every wire format is read into and written from, so each format needs one reader
// and one writer instead of one converter per pair. It keeps what the four formats share; a field one
// format has and the target cannot express is refused by the writer with a TranslationError.
import { createHash } from 'node:crypto';
import type { TokenUsage } from '../types.ts';

export type IrRole = 'user' | 'assistant';

export type IrImage = { type: 'image'; mediaType: string; data: string } | { type: 'image'; url: string };

export type IrPart =
  | { type: 'text'; text: string }
  | IrImage
  | IrToolCall
  | {
      type: 'tool_result';
      id: string;
      content: Array<{ type: 'text'; text: string } | IrImage>;
      isError: boolean;
    }
  | {
      type: 'thinking';
      text: string;
      /** The provider's opaque proof of the reasoning (Anthropic signature, OpenAI encrypted content). */
      signature?: string;
    };

/**
 * A tool call. Its arguments stay in the form the client's format had them — JSON text (OpenAI) or a
 * parsed value (Anthropic, Gemini, Converse) — and are converted only for a target that needs the
 * other form (`argsText`, `argsValue`): a long conversation's calls are not serialised and parsed
 * back on the way between two formats that both take objects.
 */
export type IrToolCall = {
  type: 'tool_call';
  id: string;
  name: string;
} & ({ arguments: string; input?: undefined } | { input: unknown; arguments?: undefined });

export interface IrMessage {
  role: IrRole;
  parts: IrPart[];
}

export interface IrTool {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
  /**
   * A Responses `custom` tool (free-form text input, e.g. Codex's apply_patch): other formats see it as
   * a function taking `{input: string}`, and its calls are turned back into custom calls.
   */
  freeform?: boolean;
  /** A tool of a Responses `namespace`: the neutral name is `<namespace>__<name>`, split again in answers. */
  namespace?: { namespace: string; name: string };
}

/** Joins a Responses namespace and tool name into one name every format accepts. */
export function namespacedName(namespace: string, name: string): string {
  return `${namespace}__${name}`;
}

export type IrToolChoice =
  | { type: 'auto' }
  | { type: 'none' }
  | { type: 'required' }
  | { type: 'tool'; name: string };

export interface IrRequest {
  model: string;
  /** System and developer instructions, in order. */
  system: string[];
  messages: IrMessage[];
  tools: IrTool[];
  toolChoice?: IrToolChoice;
  parallelToolCalls?: boolean;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  /** Top-k sampling (Anthropic, Gemini); OpenAI has none. */
  topK?: number;
  stop?: string[];
  stream: boolean;
  /** Reasoning asked for: an effort, a token budget, or both. */
  reasoning?: { effort?: 'minimal' | 'low' | 'medium' | 'high'; budgetTokens?: number };
  /** An end-user id for the provider's abuse monitoring. */
  user?: string;
  /**
   * Tools the provider itself runs (web search, code execution…) that the request declares: no other
   * provider runs them, so the call is refused unless the route says to leave them out.
   */
  hostedTools: string[];
  /**
   * Sampling settings the target cannot take and that were left out (reported with what was dropped):
   * they shape how an answer is sampled, not what is asked.
   */
  ignored?: string[];
}

export function ignore(req: IrRequest, what: string): void {
  req.ignored ??= [];
  req.ignored.push(what);
}

export type IrStop = 'end' | 'max_tokens' | 'tool_use' | 'stop_sequence' | 'content_filter' | 'refusal';

export interface IrResponse {
  id: string;
  model: string;
  parts: IrPart[];
  stop: IrStop;
  stopSequence?: string;
  usage: TokenUsage;
}

/** One step of a streamed answer, in order. Tool arguments stream as text after their `tool_start`. */
export type IrEvent =
  | { type: 'start'; id: string; model: string; usage?: Partial<TokenUsage> }
  | { type: 'text'; text: string }
  | { type: 'thinking'; text: string }
  | { type: 'signature'; signature: string }
  | { type: 'tool_start'; id: string; name: string }
  | { type: 'tool_args'; text: string }
  | { type: 'usage'; usage: Partial<TokenUsage> }
  | { type: 'stop'; reason: IrStop; stopSequence?: string }
  | { type: 'error'; status: number; message: string }
  /** The answer is complete (after any usage). */
  | { type: 'end' };

/** A request or answer that cannot be expressed in the other format; answered as a 400/502 in the caller's format. */
export class TranslationError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(message: string, status = 400, code = 'untranslatable') {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Usage with every field present. */
export function fullUsage(u: Partial<TokenUsage> | undefined): TokenUsage {
  return {
    inputTokens: u?.inputTokens ?? 0,
    cachedInputTokens: u?.cachedInputTokens ?? 0,
    cacheWriteTokens: u?.cacheWriteTokens ?? 0,
    cacheWriteLongTokens: u?.cacheWriteLongTokens ?? 0,
    outputTokens: u?.outputTokens ?? 0,
  };
}

/** Every input token, cached and written ones included (what OpenAI and Gemini report as the prompt). */
export function promptTokens(u: TokenUsage): number {
  return u.inputTokens + u.cachedInputTokens + u.cacheWriteTokens;
}

/** The text of the parts of one kind (text, or thinking), joined with `separator`. */
export function joinedText(
  parts: ReadonlyArray<IrPart>,
  type: 'text' | 'thinking' = 'text',
  separator = '',
): string {
  let out: string | undefined;
  for (const p of parts) {
    if (p.type !== type) continue;
    out = out === undefined ? p.text : out + separator + p.text;
  }
  return out ?? '';
}

/** A stream reader's last event: the end of a finished answer, or an error for a stream cut before its finish. */
export function streamEnd(out: IrEvent[], finished: boolean): void {
  out.push(
    finished
      ? { type: 'end' }
      : { type: 'error', status: 502, message: 'the upstream stream ended before the answer was complete' },
  );
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function numOr(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A call's arguments as JSON text. */
export function argsText(call: IrToolCall): string {
  return call.arguments ?? JSON.stringify(call.input ?? {});
}

/** A call's arguments as an object (the formats that need one), refusing what is not a JSON object. */
export function argsValue(call: IrToolCall): Record<string, unknown> {
  if (call.arguments !== undefined) return argsObject(call.arguments, call.name);
  const v = call.input ?? {};
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  throw new TranslationError(`the arguments of the call to tool ${call.name} are not a JSON object`);
}

/** Parses tool arguments text, refusing what is not a JSON object (the formats that need an object). */
export function argsObject(text: string, tool: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // Reported below.
  }
  throw new TranslationError(`the arguments of the call to tool ${tool} are not a JSON object`);
}

/** `data:` URL → media type and base64 data; undefined for other URLs. */
export function parseDataUrl(url: string): { mediaType: string; data: string } | undefined {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return m === null ? undefined : { mediaType: m[1], data: m[2] };
}

export function imageUrl(img: IrImage): string {
  return 'url' in img ? img.url : `data:${img.mediaType};base64,${img.data}`;
}

/** Appends a part, merging adjacent text (some formats split text that others keep whole). */
export function pushMessage(messages: IrMessage[], role: IrRole, parts: IrPart[]): void {
  if (parts.length === 0) return;
  const last = messages[messages.length - 1];
  if (last !== undefined && last.role === role) last.parts.push(...parts);
  else messages.push({ role, parts });
}

/**
 * An end-user id as OpenAI's `safety_identifier` takes it (at most 64 characters): a hash, so another
 * provider's user id (Claude Code's is a JSON object) is passed stably without its contents.
 */
export function safetyIdentifier(user: string): string {
  return createHash('sha256').update(user).digest('hex');
}
