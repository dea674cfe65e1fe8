import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { Call } from '../../src/gateway/call.ts';
import { EndingResponse } from '../../src/gateway/ending-response.ts';

async function serve(handle: (res: EndingResponse) => void): Promise<{ body: string; close: () => void }> {
  const server = createServer({ ServerResponse: EndingResponse }, (_req, res) =>
    handle(res as EndingResponse),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const body = await new Promise<string>((resolve, reject) => {
    request({ port, host: '127.0.0.1', path: '/' }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(text));
    })
      .on('error', reject)
      .end();
  });
  return { body, close: () => server.close() };
}

test('the ending stage runs once, before the last bytes are written, whichever end overload is used', async () => {
  const call = { id: 'c1' } as unknown as Call;
  for (const end of [
    (res: EndingResponse) => res.end('done'),
    (res: EndingResponse) => res.end('done', 'utf8'),
    (res: EndingResponse) => {
      res.write('done');
      res.end(() => {});
    },
  ]) {
    const seen: { call: Call; finished: boolean }[] = [];
    const { body, close } = await serve((res) => {
      res.armEnding(call, { ending: (c) => seen.push({ call: c, finished: res.writableFinished }) });
      end(res);
      res.end(); // a second end does not run the stage again
    });
    close();
    assert.equal(body, 'done');
    assert.deepEqual(seen, [{ call, finished: false }]);
  }
});

test('a response never armed ends as a plain ServerResponse', async () => {
  const { body, close } = await serve((res) => res.end('plain'));
  close();
  assert.equal(body, 'plain');
});
