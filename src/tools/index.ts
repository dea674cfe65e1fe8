export { type DeniedToolCall, findDeniedToolCalls, responsesItemToolNames } from './calls.ts';
export { codeModeGrants } from './code-mode.ts';
export {
  callDenied,
  type DeclaredTool,
  declaredTools,
  findTools,
  stripTools,
  stripToolsReport,
  TOOLS_STRIPPED_HEADER,
  type ToolDeclarations,
  toolNames,
  type UnreadableTools,
} from './declared.ts';
export {
  DENIED_TOOL_CODE,
  DENIED_TOOL_STATUS,
  type DeniedToolOptions,
  deniedToolErrorBody,
  deniedToolErrorEvent,
  deniedToolMessage,
} from './errors.ts';
export { type DeniedSet, isToolSurface, type ToolSurface } from './shape.ts';
export { createToolCallWatcher, type ToolCallWatcher, type ToolWatchEvent } from './stream.ts';
