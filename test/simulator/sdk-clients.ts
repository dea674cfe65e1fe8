// One simulator per test file, with the official SDKs and plain fetch pointed at it.
import { after, before } from 'node:test';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { Simulator } from '../../src/simulator/server.ts';

type Headers = Record<string, string>;

/** Starts a simulator before the file's tests and stops it after; `defaults` go with every call that names no headers. */
export function simulatorClients(defaults: Headers = {}) {
  let sim: Simulator;
  let url = '';
  before(async () => {
    sim = new Simulator({ outputTokens: 5, tokensPerChunk: 2 });
    url = await sim.listen();
  });
  after(async () => {
    await sim.close();
  });
  return {
    openai: (headers: Headers = defaults) =>
      new OpenAI({ apiKey: 'sim-key', baseURL: `${url}/v1`, maxRetries: 0, defaultHeaders: headers }),
    gemini: (headers: Headers = defaults) =>
      new GoogleGenAI({ apiKey: 'sim-key', httpOptions: { baseUrl: url, headers } }),
    /** A JSON POST with an API key, as a client without an SDK sends it. */
    post: (path: string, body: unknown, headers: Headers = defaults): Promise<Response> =>
      fetch(url + path, {
        method: 'POST',
        headers: { authorization: 'Bearer k', 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }),
  };
}
