// The call both kill -9 tests drive: an Anthropic message, streamed or not, counted only when its
// 2xx answer was read to its end.
import { METERED_MODEL } from '../e2e/helpers.ts';

/**
 * One call; its request id when a 2xx answer was read whole. With `newConnection`, on a connection of
 * its own (so that calls spread over a cluster's workers), given up after 30 s: a connection handed to
 * a worker as it is killed is never answered.
 */
export async function answeredCall(
  url: string,
  key: string,
  stream: boolean,
  options: { newConnection?: boolean } = {},
): Promise<string | undefined> {
  const res = await fetch(`${url}/v1/messages`, {
    signal: options.newConnection ? AbortSignal.timeout(30_000) : undefined,
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(options.newConnection ? { connection: 'close' } : {}),
      'x-api-key': key,
      'anthropic-version': '2023-06-01',
      'x-sim-output-tokens': '8',
    },
    body: JSON.stringify({
      model: METERED_MODEL,
      max_tokens: 16,
      stream,
      messages: [{ role: 'user', content: 'Say hello.' }],
    }),
  });
  const text = await res.text();
  if (res.status < 200 || res.status > 299) return undefined;
  // A stream cut by the crash has no message_stop: the client did not get its whole answer.
  if (stream && !text.includes('message_stop')) return undefined;
  return res.headers.get('x-request-id') ?? undefined;
}
