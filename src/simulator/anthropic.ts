// The simulator's Anthropic wire format: Messages and count_tokens.
import { json, type SimCall, type SimReply, sse } from './types.ts';

const event = (type: string, payload: Record<string, unknown>) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;

export function messages(c: SimCall, stream: boolean): SimReply {
  const stop = c.toolCall ? 'tool_use' : c.finish === 'stop' ? 'end_turn' : 'max_tokens';
  const tool = c.toolCall
    ? {
        type: 'tool_use',
        id: `toolu_${c.id}`,
        name: c.toolCall.name,
        input: JSON.parse(c.toolCall.arguments),
      }
    : undefined;
  const input = c.inputTokens - c.cachedTokens;
  if (!stream) {
    return json({
      id: `msg_${c.id}`,
      type: 'message',
      role: 'assistant',
      model: c.model,
      content: [{ type: 'text', text: c.words.join(' ') }, ...(tool ? [tool] : [])],
      stop_reason: stop,
      stop_sequence: null,
      usage: {
        input_tokens: input,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: c.cachedTokens,
        output_tokens: c.words.length,
      },
    });
  }
  const parts = [
    event('message_start', {
      message: {
        id: `msg_${c.id}`,
        type: 'message',
        role: 'assistant',
        model: c.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: input,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: c.cachedTokens,
          output_tokens: 1,
        },
      },
    }),
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    event('ping', {}),
  ];
  for (const p of c.pieces) {
    parts.push(event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: p } }));
  }
  parts.push(event('content_block_stop', { index: 0 }));
  if (tool) {
    parts.push(
      event('content_block_start', { index: 1, content_block: { ...tool, input: {} } }),
      event('content_block_delta', {
        index: 1,
        delta: { type: 'input_json_delta', partial_json: c.toolCall?.arguments },
      }),
      event('content_block_stop', { index: 1 }),
    );
  }
  parts.push(
    event('message_delta', {
      delta: { stop_reason: stop, stop_sequence: null },
      usage: { output_tokens: c.words.length },
    }),
    event('message_stop', {}),
  );
  return sse(parts);
}

export function countTokens(c: SimCall): SimReply {
  return json({ input_tokens: c.inputTokens });
}

export function error(status: number, message: string): SimReply {
  const type =
    status === 401
      ? 'authentication_error'
      : status === 403
        ? 'permission_error'
        : status === 429
          ? 'rate_limit_error'
          : status === 529
            ? 'overloaded_error'
            : status >= 500
              ? 'api_error'
              : 'invalid_request_error';
  return json({ type: 'error', error: { type, message } }, status);
}
