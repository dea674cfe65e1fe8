export { type DeniedToolCall, findDeniedToolCalls, responsesItemToolNames } from './calls.ts';
export { declaredTools, stripTools, TOOLS_STRIPPED_HEADER } from './declared.ts';
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
