// What the caller receives when the model called a tool its key may not use: an error in the
// surface's own format, as a whole response body or as the SSE event that ends a stream.
import type { Surface } from '../policy/decision.ts';
import { streamErrorEvents } from '../providers/stream-errors.ts';

export const DENIED_TOOL_CODE = 'tool_not_allowed';
export const DENIED_TOOL_STATUS = 403;

export interface DeniedToolOptions {
  /** The key's tool scope, named in the message. */
  scope?: string;
  /**
   * What the request did with the tool, so the message says only what is true: `removed` (the gateway
   * took it out of the tools offered to the model), `undeclared` (the request never offered it), or
   * unknown (nothing said about it).
   */
  offered?: 'removed' | 'undeclared';
  /** Responses API: the next `sequence_number` of the stream. */
  sequenceNumber?: number;
}

export function deniedToolMessage(tool: string, options: DeniedToolOptions = {}): string {
  const scope = options.scope ? ` (${options.scope})` : '';
  const offered =
    options.offered === 'removed'
      ? 'Portcullis had removed it from the tools offered to the model, which called it anyway. '
      : options.offered === 'undeclared'
        ? 'The request did not offer this tool to the model. '
        : '';
  return (
    `Portcullis stopped this response: the model called the tool ${tool}, which your tool scope${scope} does not allow. ` +
    `${offered}Ask your platform team to widen the scope if you need it.`
  );
}

/** Non-streaming: the JSON error body to send with status 403 instead of the model's response. */
export function deniedToolErrorBody(
  surface: Surface,
  tool: string,
  options: DeniedToolOptions = {},
): unknown {
  const message = deniedToolMessage(tool, options);
  switch (surface) {
    case 'anthropic.messages':
      return { type: 'error', error: { type: 'permission_error', message } };
    case 'gemini.generate':
      return { error: { code: DENIED_TOOL_STATUS, message, status: 'PERMISSION_DENIED' } };
    default:
      return { error: { message, type: 'permission_error', param: null, code: DENIED_TOOL_CODE } };
  }
}

/** Streaming: the SSE bytes of the error event that ends the stream on this surface. */
export function deniedToolErrorEvent(
  surface: Surface,
  tool: string,
  options: DeniedToolOptions = {},
): Uint8Array {
  return streamErrorEvents(surface, deniedToolErrorBody(surface, tool, options), {
    code: DENIED_TOOL_CODE,
    type: 'permission_error',
    message: deniedToolMessage(tool, options),
    sequenceNumber: options.sequenceNumber ?? 0,
  });
}
