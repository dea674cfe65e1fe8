// A minimal translating hop for tests: serves the clients' own paths, translates each call to one
// upstream surface of the simulator and the answer back, so the official SDKs sit on both ends.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProviderApi } from '../../../src/policy/snapshot.ts';
import { adapters } from '../../../src/providers/index.ts';
import {
  type ChatSurface,
  StreamTranslator,
  TranslationError,
  translateRequest,
  translateResponse,
  upstreamErrorMessage,
} from '../../../src/providers/translate/index.ts';

export interface TranslatingHop {
  url: string;
  close(): Promise<void>;
  /** The upstream bodies sent, last first. */
  sent: Record<string, unknown>[];
}

function clientSurface(path: string): { surface: ChatSurface; model?: string; stream?: boolean } | null {
  if (path === '/v1/messages') return { surface: 'anthropic.messages' };
  if (path === '/v1/chat/completions') return { surface: 'openai.chat' };
  if (path === '/v1/responses') return { surface: 'openai.responses' };
  const m = /^\/v1beta\/models\/([^:]+):(generateContent|streamGenerateContent)$/.exec(path);
  if (m !== null)
    return { surface: 'gemini.generate', model: m[1], stream: m[2] === 'streamGenerateContent' };
  return null;
}

export async function startProxy(
  upstream: string,
  to: ChatSurface,
  upstreamModel = 'sim-model',
): Promise<TranslatingHop> {
  const sent: Record<string, unknown>[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    const target = clientSurface(url.pathname);
    if (target === null) {
      res.writeHead(404).end();
      return;
    }
    const from = target.surface;
    const clientApi: ProviderApi = from.startsWith('anthropic.')
      ? 'anthropic'
      : from.startsWith('gemini.')
        ? 'gemini'
        : 'openai';
    const fail = (status: number, message: string, code: string) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(adapters[clientApi].errorBody(status, message, code)));
    };
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    let t: ReturnType<typeof translateRequest>;
    try {
      t = translateRequest(from, to, body, {
        clientModel: target.model ?? String(body.model),
        upstreamModel,
        stream: target.stream ?? body.stream === true,
        defaultMaxTokens: 16000,
      });
    } catch (err) {
      if (err instanceof TranslationError) return fail(err.status, err.message, err.code);
      throw err;
    }
    sent.unshift(t.body);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      authorization: 'Bearer sim',
    };
    for (const [k, v] of Object.entries(req.headers))
      if (k.startsWith('x-sim-') && typeof v === 'string') headers[k] = v;
    const up = await fetch(upstream + t.path, { method: 'POST', headers, body: JSON.stringify(t.body) });
    if (up.status >= 400) {
      const text = await up.text();
      return fail(
        up.status,
        upstreamErrorMessage(to, JSON.parse(text)) ?? 'upstream error',
        'upstream_error',
      );
    }
    if (!t.stream) {
      const answer = translateResponse(to, from, await up.json(), t.answer);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const st = new StreamTranslator(to, from, t.answer);
    for await (const chunk of up.body as AsyncIterable<Uint8Array>) res.write(st.push(chunk));
    res.end(st.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
