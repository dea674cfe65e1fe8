// The simulator's Gemini wire format: generateContent, streamGenerateContent (SSE or JSON array), countTokens.
import { json, type SimCall, type SimReply, sse } from './types.ts';

function usage(c: SimCall, output: number) {
  return {
    promptTokenCount: c.inputTokens,
    candidatesTokenCount: output,
    totalTokenCount: c.inputTokens + output,
    ...(c.cachedTokens > 0 ? { cachedContentTokenCount: c.cachedTokens } : {}),
  };
}

type Part = { text: string } | { functionCall: { name: string; args: unknown } };

function chunk(c: SimCall, parts: Part[], finish: boolean, outputSoFar: number) {
  const reason = c.toolCall || c.finish === 'stop' ? 'STOP' : 'MAX_TOKENS';
  return {
    candidates: [
      {
        content: { role: 'model', parts },
        ...(finish ? { finishReason: reason } : {}),
        index: 0,
      },
    ],
    usageMetadata: usage(c, outputSoFar),
    modelVersion: c.model,
    responseId: c.id,
  };
}

/** Gemini API function calls carry parsed `args` and, unlike Vertex AI's, no id. */
function callPart(call: NonNullable<SimCall['toolCall']>): Part {
  return { functionCall: { name: call.name, args: JSON.parse(call.arguments) } };
}

export function generate(c: SimCall, stream: boolean, asSse: boolean): SimReply {
  const call = c.toolCall ? callPart(c.toolCall) : undefined;
  if (!stream) {
    const parts: Part[] = [{ text: c.words.join(' ') }, ...(call ? [call] : [])];
    return json(chunk(c, parts, true, c.words.length));
  }
  const chunks: unknown[] = [];
  let sent = 0;
  c.pieces.forEach((p, i) => {
    // The last text chunk reports exactly the answer's tokens, however the pieces cut its words.
    const last = i === c.pieces.length - 1;
    sent = last ? c.words.length : Math.min(c.words.length, sent + p.trim().split(' ').length);
    chunks.push(chunk(c, [{ text: p }], !call && last, sent));
  });
  // The call comes whole in a chunk of its own, the one that ends the answer.
  if (call) chunks.push(chunk(c, [call], true, sent));
  if (chunks.length === 0) chunks.push(chunk(c, [{ text: '' }], true, 0));
  if (asSse) return sse(chunks.map((ch) => `data: ${JSON.stringify(ch)}\r\n\r\n`));
  return {
    kind: 'stream',
    contentType: 'application/json; charset=UTF-8',
    parts: chunks.map(
      (ch, i) => `${i === 0 ? '[' : ',\r\n'}${JSON.stringify(ch)}${i === chunks.length - 1 ? ']' : ''}`,
    ),
  };
}

export function countTokens(c: SimCall): SimReply {
  return json({ totalTokens: c.inputTokens });
}

const STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export function error(status: number, message: string): SimReply {
  return json({ error: { code: status, message, status: STATUS[status] ?? 'UNKNOWN' } }, status);
}
