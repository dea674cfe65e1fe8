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

function chunk(c: SimCall, text: string, finish: boolean, outputSoFar: number) {
  return {
    candidates: [
      {
        content: { role: 'model', parts: [{ text }] },
        ...(finish ? { finishReason: c.finish === 'stop' ? 'STOP' : 'MAX_TOKENS' } : {}),
        index: 0,
      },
    ],
    usageMetadata: usage(c, outputSoFar),
    modelVersion: c.model,
    responseId: c.id,
  };
}

export function generate(c: SimCall, stream: boolean, asSse: boolean): SimReply {
  if (!stream) return json(chunk(c, c.words.join(' '), true, c.words.length));
  const chunks: unknown[] = [];
  let sent = 0;
  c.pieces.forEach((p, i) => {
    sent += p.trim().split(' ').length;
    chunks.push(chunk(c, p, i === c.pieces.length - 1, sent));
  });
  if (chunks.length === 0) chunks.push(chunk(c, '', true, 0));
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
