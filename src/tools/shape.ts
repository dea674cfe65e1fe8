// Small readers for untyped provider JSON, and the surfaces that carry agent-native tools.
import type { Surface } from '../policy/decision.ts';

export type ToolSurface = 'anthropic.messages' | 'openai.chat' | 'openai.responses' | 'gemini.generate';

export type Json = Record<string, unknown>;

export function isToolSurface(surface: Surface | string): surface is ToolSurface {
  return (
    surface === 'anthropic.messages' ||
    surface === 'openai.chat' ||
    surface === 'openai.responses' ||
    surface === 'gemini.generate'
  );
}

export function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Gemini's REST API takes both camelCase and snake_case field names. */
export function snakeOf(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export function camelOf(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The field `camel` of a Gemini object under either spelling, with the spelling found. */
export function geminiField(o: Json, camel: string): { key: string; value: unknown } | undefined {
  if (camel in o) return { key: camel, value: o[camel] };
  const snake = snakeOf(camel);
  return snake in o ? { key: snake, value: o[snake] } : undefined;
}

/** Responses API output item types of built-in tool calls, and the tool types that produce them. */
export const RESPONSES_CALL_TOOLS: Readonly<Record<string, readonly string[]>> = {
  local_shell_call: ['local_shell'],
  shell_call: ['shell'],
  apply_patch_call: ['apply_patch'],
  web_search_call: ['web_search', 'web_search_preview'],
  file_search_call: ['file_search'],
  code_interpreter_call: ['code_interpreter'],
  computer_call: ['computer_use_preview', 'computer_use'],
  image_generation_call: ['image_generation'],
  mcp_call: ['mcp'],
};

export type DeniedSet = ReadonlySet<string> | readonly string[] | ((name: string) => boolean);

export function deniedPredicate(denied: DeniedSet): (name: string) => boolean {
  if (typeof denied === 'function') return denied;
  const set = denied instanceof Set ? denied : new Set(denied as readonly string[]);
  return (name) => set.has(name);
}
