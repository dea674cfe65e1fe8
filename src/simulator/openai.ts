// The simulator's OpenAI wire format: Chat Completions, Responses, Embeddings, Models.
import { json, type SimCall, type SimReply, sse } from './types.ts';

const data = (v: unknown) => `data: ${JSON.stringify(v)}\n\n`;

function chatUsage(c: SimCall) {
  return {
    prompt_tokens: c.inputTokens,
    completion_tokens: c.words.length,
    total_tokens: c.inputTokens + c.words.length,
    prompt_tokens_details: { cached_tokens: c.cachedTokens },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

export function chat(c: SimCall, stream: boolean): SimReply {
  const finish = c.toolCall ? 'tool_calls' : c.finish;
  const call = c.toolCall
    ? {
        id: `call_${c.id}`,
        type: 'function',
        function: { name: c.toolCall.name, arguments: c.toolCall.arguments },
      }
    : undefined;
  if (!stream) {
    return json({
      id: c.id,
      object: 'chat.completion',
      created: c.created,
      model: c.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: c.words.join(' '),
            refusal: null,
            ...(call ? { tool_calls: [call] } : {}),
          },
          logprobs: null,
          finish_reason: finish,
        },
      ],
      usage: chatUsage(c),
    });
  }
  const opts = c.body.stream_options;
  const includeUsage =
    typeof opts === 'object' && opts !== null && (opts as Record<string, unknown>).include_usage === true;
  const base = { id: c.id, object: 'chat.completion.chunk', created: c.created, model: c.model };
  const extra = includeUsage ? { usage: null } : {};
  const parts: string[] = [
    data({
      ...base,
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
      ...extra,
    }),
  ];
  for (const p of c.pieces) {
    parts.push(
      data({ ...base, choices: [{ index: 0, delta: { content: p }, finish_reason: null }], ...extra }),
    );
  }
  if (call) {
    parts.push(
      data({
        ...base,
        choices: [{ index: 0, delta: { tool_calls: [{ index: 0, ...call }] }, finish_reason: null }],
        ...extra,
      }),
    );
  }
  parts.push(data({ ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }], ...extra }));
  if (includeUsage) parts.push(data({ ...base, choices: [], usage: chatUsage(c) }));
  parts.push('data: [DONE]\n\n');
  return sse(parts);
}

function messageItem(c: SimCall, text: string) {
  return {
    type: 'message',
    id: `msg_${c.id}`,
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [] }],
  };
}

/** The Responses output item of the answer's tool call, as the API sends it once the call is complete. */
function functionCallItem(c: SimCall, call: NonNullable<SimCall['toolCall']>) {
  return {
    type: 'function_call',
    id: `fc_${c.id}`,
    call_id: `call_${c.id}`,
    name: call.name,
    arguments: call.arguments,
    status: 'completed',
  };
}

function responseObject(c: SimCall, status: 'in_progress' | 'completed', withOutput: boolean) {
  return {
    id: `resp_${c.id}`,
    object: 'response',
    created_at: c.created,
    status,
    model: c.model,
    output: withOutput
      ? [messageItem(c, c.words.join(' ')), ...(c.toolCall ? [functionCallItem(c, c.toolCall)] : [])]
      : [],
    usage: withOutput
      ? {
          input_tokens: c.inputTokens,
          input_tokens_details: { cached_tokens: c.cachedTokens },
          output_tokens: c.words.length,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: c.inputTokens + c.words.length,
        }
      : null,
  };
}

export function responses(c: SimCall, stream: boolean): SimReply {
  if (!stream) return json(responseObject(c, 'completed', true));
  let seq = 0;
  const ev = (type: string, payload: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...payload })}\n\n`;
  const itemId = `msg_${c.id}`;
  const text = c.words.join(' ');
  const parts = [
    ev('response.created', { response: responseObject(c, 'in_progress', false) }),
    ev('response.in_progress', { response: responseObject(c, 'in_progress', false) }),
    ev('response.output_item.added', {
      output_index: 0,
      item: { type: 'message', id: itemId, status: 'in_progress', role: 'assistant', content: [] },
    }),
    ev('response.content_part.added', {
      item_id: itemId,
      output_index: 0,
      content_index: 0,
      part: { type: 'output_text', text: '', annotations: [] },
    }),
  ];
  for (const p of c.pieces) {
    parts.push(
      ev('response.output_text.delta', { item_id: itemId, output_index: 0, content_index: 0, delta: p }),
    );
  }
  parts.push(
    ev('response.output_text.done', { item_id: itemId, output_index: 0, content_index: 0, text }),
    ev('response.content_part.done', {
      item_id: itemId,
      output_index: 0,
      content_index: 0,
      part: { type: 'output_text', text, annotations: [] },
    }),
    ev('response.output_item.done', { output_index: 0, item: messageItem(c, text) }),
  );
  if (c.toolCall) {
    // The item is announced with its name and empty arguments, which then stream as deltas.
    const item = functionCallItem(c, c.toolCall);
    parts.push(
      ev('response.output_item.added', {
        output_index: 1,
        item: { ...item, arguments: '', status: 'in_progress' },
      }),
      ev('response.function_call_arguments.delta', {
        item_id: item.id,
        output_index: 1,
        delta: item.arguments,
      }),
      ev('response.function_call_arguments.done', {
        item_id: item.id,
        output_index: 1,
        name: item.name,
        arguments: item.arguments,
      }),
      ev('response.output_item.done', { output_index: 1, item }),
    );
  }
  parts.push(ev('response.completed', { response: responseObject(c, 'completed', true) }));
  return sse(parts);
}

const DIMENSIONS = 8;

export function embeddings(c: SimCall): SimReply {
  const input = c.body.input;
  const items = Array.isArray(input) ? input : [input];
  const base64 = c.body.encoding_format === 'base64';
  const data = items.map((item, index) => {
    const seed = JSON.stringify(item) ?? '';
    const vec = new Float32Array(DIMENSIONS);
    for (let i = 0; i < DIMENSIONS; i++)
      vec[i] = ((seed.charCodeAt(i % Math.max(seed.length, 1)) || 0) % 97) / 97;
    return {
      object: 'embedding',
      index,
      embedding: base64 ? Buffer.from(vec.buffer).toString('base64') : Array.from(vec),
    };
  });
  return json({
    object: 'list',
    data,
    model: c.model,
    usage: { prompt_tokens: c.inputTokens, total_tokens: c.inputTokens },
  });
}

export function models(ids: readonly string[]): SimReply {
  return json({
    object: 'list',
    data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'simulator' })),
  });
}

export function error(status: number, message: string): SimReply {
  const type =
    status === 401
      ? 'authentication_error'
      : status === 429
        ? 'rate_limit_error'
        : status >= 500
          ? 'server_error'
          : 'invalid_request_error';
  return json({ error: { message, type, param: null, code: `sim_${status}` } }, status);
}
