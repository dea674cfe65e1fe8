// `portcullis serve` as a production process: native TLS whose certificate is swapped on disk and
// picked up without a restart, and SIGTERM draining — no new connections, a stream in flight
// finishes and is audited, a stream past the drain bound is cut, and the process exits 0.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { connect } from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';
import { startCli } from './cli-process.ts';
import { PROVIDER_SECRETS } from './stack.ts';

const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const CLI = join(REPO_ROOT, 'bin/portcullis.js');
/** Log lines are written asynchronously: wait a little for one. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

function makeCert(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

function peerFingerprint(url: string, ca: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca, servername: undefined }, () => {
      const fp = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
      socket.end();
      resolve(fp);
    });
    socket.once('error', reject);
  });
}

describe('serving', { skip: !hasOpenssl && 'openssl makes the test certificates' }, () => {
  test('HTTPS with the certificate reloaded when its files change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'));
    const first = makeCert(dir, 'first');
    const second = makeCert(dir, 'second');
    const live = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') };
    writeFileSync(live.cert, readFileSync(first.cert));
    writeFileSync(live.key, readFileSync(first.key));
    const { dir: policy } = examplePolicyCopy();
    const gw = startCli(
      [
        'serve',
        '--policy',
        policy,
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--tls-cert',
        live.cert,
        '--tls-key',
        live.key,
        '--data-dir',
        mkdtempSync(join(tmpdir(), 'portcullis-tls-data-')),
      ],
      { ...process.env, ...PROVIDER_SECRETS },
    );
    const url = await gw.url;
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const bothCAs = readFileSync(first.cert, 'utf8') + readFileSync(second.cert, 'utf8');
    const dispatcher = new Agent({ connect: { ca: readFileSync(first.cert) } });
    const res = await undiciFetch(`${url}/healthz`, { dispatcher });
    assert.equal(res.status, 200);
    await dispatcher.close();
    const fingerprint = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;
    assert.equal(await peerFingerprint(url, bothCAs), fingerprint(first.cert));

    // Rotate as a Secret volume does: new files renamed into place.
    writeFileSync(`${live.key}.new`, readFileSync(second.key));
    writeFileSync(`${live.cert}.new`, readFileSync(second.cert));
    renameSync(`${live.key}.new`, live.key);
    renameSync(`${live.cert}.new`, live.cert);
    const deadline = Date.now() + 10_000;
    let seen = '';
    while (Date.now() < deadline && seen !== fingerprint(second.cert)) {
      await new Promise((r) => setTimeout(r, 200));
      seen = await peerFingerprint(url, bothCAs);
    }
    assert.equal(seen, fingerprint(second.cert));
    await eventually(() => /TLS certificate reloaded/.test(gw.output()), 'the reload in the log');

    // A broken pair is refused and the good one keeps serving.
    writeFileSync(live.cert, 'not a certificate');
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await peerFingerprint(url, bothCAs), fingerprint(second.cert));
    await eventually(
      () => /does not load; the current one keeps serving/.test(gw.output()),
      'the refusal in the log',
    );
    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, 0);
  });

  test('SIGTERM drains: no new connections, the stream in flight finishes and is audited; one past the bound is cut', async () => {
    const sim = startCli(['simulator', '--port', '0'], process.env);
    const simUrl = await sim.url;
    const { dir: policy, keys } = examplePolicyCopy();
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-drain-'));
    const gw = startCli(
      ['serve', '--policy', policy, '--port', '0', '--data-dir', dataDir, '--drain-seconds', '5'],
      {
        ...process.env,
        ...PROVIDER_SECRETS,
        PORTCULLIS_UPSTREAM_ANTHROPIC: simUrl,
      },
    );
    const url = await gw.url;
    const stream = (chunkDelayMs: number) =>
      fetch(`${url}/v1/messages`, {
        method: 'POST',
        headers: {
          'x-api-key': keys.member,
          'content-type': 'application/json',
          'anthropic-version': '2023-06-01',
          'x-sim-chunk-delay-ms': String(chunkDelayMs),
          'x-sim-text': encodeURIComponent('one two three four five six seven eight'),
          'x-sim-chunk-chars': '4',
        },
        body: JSON.stringify({
          model: 'claude-haiku-4-5',
          max_tokens: 64,
          stream: true,
          messages: [{ role: 'user', content: 'count' }],
        }),
      });
    // ~10 chunks: 150 ms apart finishes inside the bound; 2 s apart does not.
    const finishing = await stream(150);
    const cutShort = await stream(2000);
    assert.equal(finishing.status, 200);
    assert.equal(cutShort.status, 200);
    const finishingBody = finishing.text();
    const cutBody = cutShort.text().then(
      (text) => ({ text, error: undefined as unknown }),
      (error: unknown) => ({ text: '', error }),
    );
    const t0 = Date.now();
    gw.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    await assert.rejects(fetch(`${url}/healthz`), 'the listener no longer accepts connections');

    const text = await finishingBody;
    assert.match(text, /event: message_stop/);
    const cut = await cutBody;
    assert.ok(
      cut.error !== undefined || !/message_stop/.test(cut.text),
      'the long stream was cut at the bound',
    );
    assert.equal(await gw.exited, 0);
    const took = Date.now() - t0;
    assert.ok(took >= 4500 && took < 14_000, `shutdown took ${took} ms for a 5 s drain bound`);
    assert.match(gw.output(), /drain bound reached/);
    sim.child.kill('SIGTERM');
    await sim.exited;

    const audit = spawnSync(NODE, [CLI, 'audit', 'query', '--data-dir', dataDir, '--json'], {
      encoding: 'utf8',
    });
    assert.equal(audit.status, 0, audit.stderr);
    const records = audit.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).record as { status?: number; outcome?: string });
    assert.ok(records.length >= 1, `audit records after drain: ${audit.stdout}`);
  });
});
