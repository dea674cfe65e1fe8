import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SnapshotHolder } from '../../src/gateway/snapshot-holder.ts';
import {
  BundleError,
  fileDigest,
  readBundle,
  SIGNATURES_FILE,
  verifyBundle,
  writeBundle,
} from '../../src/sync/bundle-format.ts';
import { createPolicyManager } from '../../src/sync/manager.ts';
import { findTool, OPA } from '../../src/toolchain/tools.ts';
import { type BaseBundle, BundleServer, baseBundle, rsaKeyPair, variant } from './bundle-helpers.ts';
import { collectingLogger, tempDir, waitFor } from './helpers.ts';

const opa = findTool(OPA);
const SHA = (c: string) => c.repeat(40);

describe('signed policy bundles', { skip: !opa && 'the OPA CLI builds the bundle (npm run setup)' }, () => {
  let base: BaseBundle;
  before(async () => {
    base = await baseBundle();
  });

  test('the bundle names the commit and carries the Wasm, the data and the policy documents', () => {
    assert.match(base.revision, /^[0-9a-f]{40}$/);
    const manifest = JSON.parse(base.files.get('.manifest')!.toString());
    assert.equal(manifest.revision, base.revision);
    assert.equal(manifest.metadata.portcullis.commit.subject, 'Initial policy');
    assert.equal(JSON.parse(base.files.get('data.json')!.toString()).portcullis.revision, base.revision);
    assert.ok(base.files.has('policy.wasm'));
    assert.ok(base.files.has('portcullis/policy/keys/app-dev.yaml'));
    assert.ok(base.files.has(SIGNATURES_FILE));
  });

  test('OPA verifies the signature written here, and a tampered file fails both verifiers', async () => {
    const dir = tempDir('opa-verify');
    writeFileSync(join(dir, 'pub.pem'), base.key.publicKey);
    writeFileSync(join(dir, 'bundle.tar.gz'), base.archive);
    const verify = (file: string) =>
      execFileSync(
        opa!,
        ['build', '-b', file, '--verification-key', join(dir, 'pub.pem'), '-o', join(dir, 'out.tar.gz')],
        { stdio: 'pipe' },
      );
    verify(join(dir, 'bundle.tar.gz'));
    assert.deepEqual(await verifyBundle(base.files, { publicKey: base.key.publicKey }), {
      keyId: 'default',
      issuedAt: 1_800_000_000,
    });

    const tampered = new Map(base.files);
    tampered.set('portcullis/policy/keys/app-dev.yaml', Buffer.from('# edited after signing\n'));
    writeFileSync(join(dir, 'tampered.tar.gz'), await writeBundle(tampered));
    assert.throws(
      () => verify(join(dir, 'tampered.tar.gz')),
      (e: { stdout?: Buffer; stderr?: Buffer }) => /digest mismatch/.test(`${e.stdout}${e.stderr}`),
    );
    await assert.rejects(
      verifyBundle(tampered, { publicKey: base.key.publicKey }),
      /app-dev.yaml: digest does not match/,
    );
  });

  test('a bundle signed by `opa build --signing-key` verifies here (structured files hashed as OPA does)', async () => {
    const dir = tempDir('opa-sign');
    mkdirSync(join(dir, 'src', 'rego'), { recursive: true });
    writeFileSync(join(dir, 'src', 'rego', 'a.rego'), 'package x\n\nallow := true\n');
    writeFileSync(join(dir, 'src', 'data.json'), '{ "z": [1, {"b": "\u2028é<"}], "a": null }');
    const key = rsaKeyPair();
    writeFileSync(join(dir, 'key.pem'), key.privateKey);
    execFileSync(
      opa!,
      ['build', '-b', join(dir, 'src'), '--signing-key', join(dir, 'key.pem'), '-o', join(dir, 'b.tar.gz')],
      {
        stdio: 'pipe',
      },
    );
    const files = readBundle(readFileSync(join(dir, 'b.tar.gz')));
    assert.equal((await verifyBundle(files, { publicKey: key.publicKey })).keyId, 'default');
    await assert.rejects(verifyBundle(files, { publicKey: rsaKeyPair().publicKey }), /does not verify/);
    assert.equal(
      fileDigest('x/data.json', Buffer.from('{"b":1,"a":2}')),
      fileDigest('data.json', Buffer.from('{ "a": 2, "b": 1 }')),
    );
  });

  test('a truncated archive is refused as damaged', async () => {
    assert.throws(() => readBundle(base.archive.subarray(0, base.archive.length - 100)), BundleError);
    assert.throws(() => readBundle(Buffer.from('not gzip')), /not a complete gzip stream/);
  });

  describe('followed over HTTP', () => {
    const server = new BundleServer();
    let url: string;
    before(async () => {
      url = await server.listen();
    });
    after(() => server.close());

    const bobMonthly = (holder: SnapshotHolder) =>
      holder
        .current()
        ?.keys.get('bob-dev')
        ?.budgets.find((b) => b.period === 'monthly')?.amountUsd;

    test('activates signed revisions; bad signature, wrong revision, rollback and truncation keep the last good', async () => {
      server.publish(base.archive);
      const holder = new SnapshotHolder();
      const { logger, registry } = collectingLogger();
      const dataDir = tempDir('bundle-data');
      const m = createPolicyManager({
        source: { kind: 'bundle', url, publicKey: base.key.publicKey },
        holder,
        dataDir,
        pollSeconds: 0,
        retryBaseSeconds: 3600,
        logger,
        registry,
      });
      await m.start();
      try {
        assert.equal(holder.current()?.revision, base.revision);
        assert.equal(m.status().active?.subject, 'Initial policy');
        assert.equal(m.status().source, `bundle ${url}`);
        assert.equal(bobMonthly(holder), 200);

        // Nothing new: a conditional GET answered 304.
        await m.triggerFetch('poll');
        assert.equal(server.notModified, 1);

        server.publish(await variant(base, { revision: SHA('b'), budget: 321, issuedAt: 1_800_000_100 }));
        await m.triggerFetch('poll');
        assert.equal(holder.current()?.revision, SHA('b'));
        assert.equal(bobMonthly(holder), 321);

        const expectKept = (why: RegExp, where: 'rejected' | 'lastError') => {
          assert.equal(holder.current()?.revision, SHA('b'));
          assert.equal(bobMonthly(holder), 321);
          const status = m.status();
          const message =
            where === 'rejected' ? status.rejected?.problems[0]?.message : status.lastError?.message;
          assert.match(message ?? '', why);
        };

        const stranger = rsaKeyPair();
        server.publish(
          await variant(base, {
            revision: SHA('c'),
            budget: 999,
            issuedAt: 1_800_000_200,
            signWith: stranger.privateKey,
          }),
        );
        await m.triggerFetch('poll');
        expectKept(/signature does not verify/, 'rejected');
        assert.match(
          await registry.metrics(),
          /portcullis_policy_reload_failures_total\{reason="unsigned"\} 1/,
        );
        // The rejected download is not fetched again until the server has something new.
        await m.triggerFetch('poll');
        assert.equal(server.notModified, 2);

        server.publish(
          await variant(base, {
            revision: SHA('d'),
            manifestRevision: SHA('e'),
            budget: 999,
            issuedAt: 1_800_000_300,
          }),
        );
        await m.triggerFetch('poll');
        expectKept(/revision mismatch: .manifest says e+, its metadata d+/, 'rejected');

        server.publish(await variant(base, { revision: SHA('f'), budget: 999, issuedAt: 1_800_000_050 }));
        await m.triggerFetch('poll');
        expectKept(/signed at .* before the bundle serving now/, 'rejected');

        server.publish(
          await variant(base, { revision: SHA('1'), budget: 999, issuedAt: 1_800_000_400 }),
          'cut-connection',
        );
        await m.triggerFetch('poll');
        expectKept(/truncated/, 'lastError');

        server.publish(
          await variant(base, { revision: SHA('2'), budget: 999, issuedAt: 1_800_000_500 }),
          'short-archive',
        );
        await m.triggerFetch('poll');
        expectKept(/not a complete gzip stream|damaged/, 'lastError');

        server.publish(await variant(base, { revision: SHA('3'), budget: 654, issuedAt: 1_800_000_600 }));
        await m.triggerFetch('poll');
        assert.equal(holder.current()?.revision, SHA('3'));
        assert.equal(bobMonthly(holder), 654);
        assert.equal(m.status().lastError, undefined);
      } finally {
        await m.stop();
      }

      // A restart with the bundle server down serves the last good bundle, re-verified from disk.
      await server.close();
      const again = new SnapshotHolder();
      const second = createPolicyManager({
        source: { kind: 'bundle', url, publicKey: base.key.publicKey },
        holder: again,
        dataDir,
        pollSeconds: 0,
        retryBaseSeconds: 3600,
        ...collectingLogger(),
      });
      await second.start();
      try {
        await waitFor('the last good bundle', () => again.current() !== undefined);
        assert.equal(again.current()?.revision, SHA('3'));
        assert.match(second.status().lastError?.message ?? '', /unreachable/);
      } finally {
        await second.stop();
      }
    });
  });
});

test('a presigned bundle URL never shows its signature or credentials in status', async () => {
  const { BundleSource } = await import('../../src/sync/bundle-source.ts');
  const source = new BundleSource({
    url: 'https://ci:hunter2@bucket.s3.example.com/policy/bundle.tar.gz?X-Amz-Signature=abc123&X-Amz-Credential=AKIA',
    publicKey: '',
    dataDir: tempDir('presigned'),
  });
  assert.equal(source.description, 'bundle https://bucket.s3.example.com/policy/bundle.tar.gz?…');
});

describe('a bundle over HTTPS', {
  skip: (!opa || spawnSync('openssl', ['version']).status !== 0) && 'needs the OPA CLI and openssl',
}, () => {
  test('a private CA given with the source is trusted; without it the download fails and nothing activates', async () => {
    const dir = tempDir('bundle-tls');
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
        '/CN=bundles.internal',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const base = await baseBundle();
    const server = createHttpsServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (_req, res) =>
        res.writeHead(200, { etag: '"1"', 'content-length': base.archive.length }).end(base.archive),
    );
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/bundle.tar.gz`;
    const follow = async (ca: string | undefined) => {
      const holder = new SnapshotHolder();
      const m = createPolicyManager({
        source: { kind: 'bundle', url, publicKey: base.key.publicKey, ca },
        holder,
        dataDir: tempDir('bundle-tls-data'),
        pollSeconds: 0,
        retryBaseSeconds: 3600,
        ...collectingLogger(),
      });
      await m.start();
      await m.stop();
      return { revision: holder.current()?.revision, error: m.status().lastError?.message };
    };
    try {
      assert.deepEqual(await follow(readFileSync(join(dir, 'cert.pem'), 'utf8')), {
        revision: base.revision,
        error: undefined,
      });
      const untrusted = await follow(undefined);
      assert.equal(untrusted.revision, undefined);
      assert.match(
        untrusted.error ?? '',
        /bundle server unreachable: .*(SELF_SIGNED|self-signed|certificate)/i,
      );
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });
});
