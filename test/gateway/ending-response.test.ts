import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditJournal } from '../../src/audit/journal.ts';
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

test('a response whose ending stage journaled a provisional record leaves only after the journal has it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-ending-'));
  const journal = new AuditJournal(dir);
  t.after(() => {
    journal.close(false);
    rmSync(dir, { recursive: true, force: true });
  });
  const server = createServer({ ServerResponse: EndingResponse }, (_req, res) => {
    const ending = res as EndingResponse;
    ending.armEnding({ id: 'c1' } as unknown as Call, {
      ending: () => journal.writeProvisional('{"requestId":"c1"}', 'c1'),
    });
    ending.end('answer');
    // The rest of this turn of the event loop (other calls' work) takes a while: a client that
    // already had its answer would read the journal before its line is written.
    const until = Date.now() + 300;
    while (Date.now() < until);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  // The client is another process, so it reads the journal while this one is busy.
  const client = `
    const http = require('node:http'), fs = require('node:fs');
    http.get('http://127.0.0.1:${port}/', (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        const journaled = fs.readdirSync(${JSON.stringify(dir)}).some((f) => fs.readFileSync(${JSON.stringify(dir)} + '/' + f, 'utf8').includes('"c1"'));
        process.stdout.write(JSON.stringify({ body, journaled }));
      });
    });`;
  const child = spawn(process.execPath, ['-e', client], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c));
  await new Promise((r) => child.once('exit', r));
  assert.deepEqual(JSON.parse(out), { body: 'answer', journaled: true });
});
