import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import { SnapshotHolder } from '../../src/gateway/snapshot-holder.ts';
import { createPolicyManager } from '../../src/sync/manager.ts';
import { registerWebhookRoutes } from '../../src/sync/webhook.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';
import { collectingLogger, git, policyRepo, setBobBudget, tempDir, waitFor } from './helpers.ts';

const bobMonthly = (holder: SnapshotHolder) =>
  holder
    .current()
    ?.keys.get('bob-dev')
    ?.budgets.find((b) => b.period === 'monthly')?.amountUsd;

describe('local directory source', () => {
  test('an edited file is reloaded; a broken edit is rejected and the previous policy keeps serving', async () => {
    const { dir } = examplePolicyCopy();
    const holder = new SnapshotHolder();
    const { logger, registry } = collectingLogger();
    const m = createPolicyManager({
      source: { kind: 'dir', dir, debounceMs: 100 },
      holder,
      dataDir: tempDir('data'),
      logger,
      registry,
    });
    await m.start();
    try {
      assert.equal(bobMonthly(holder), 200);
      assert.match(holder.current()!.revision, /^sha256:/);
      const file = join(dir, 'keys', 'app-dev.yaml');
      writeFileSync(file, setBobBudget(222)(readFileSync(file, 'utf8')));
      await waitFor('the edited budget', () => bobMonthly(holder) === 222);
      const good = holder.current()!.revision;

      writeFileSync(file, readFileSync(file, 'utf8').replace('amountUsd: 222', 'amountUsd: -5'));
      await waitFor('the rejection', () => m.status().rejected !== undefined);
      assert.equal(holder.current()!.revision, good);
      assert.equal(m.status().rejected?.problems[0]?.file, 'keys/app-dev.yaml');
    } finally {
      await m.stop();
    }
  });
});

describe('webhook to active revision', () => {
  test('a signed GitHub push makes the new commit active', async () => {
    const repo = policyRepo();
    const holder = new SnapshotHolder();
    const { logger, registry } = collectingLogger();
    const m = createPolicyManager({
      source: { kind: 'git', url: repo.remote },
      holder,
      dataDir: tempDir('data'),
      pollSeconds: 0,
      logger,
      registry,
    });
    await m.start();
    const app = Fastify();
    await registerWebhookRoutes(app, m, { githubSecret: 's3cret' });
    try {
      const sha = repo.change('keys/app-dev.yaml', setBobBudget(640), 'Via webhook');
      const body = JSON.stringify({ ref: 'refs/heads/main', after: sha });
      const signature = `sha256=${createHmac('sha256', 's3cret').update(body).digest('hex')}`;
      const res = await app.inject({
        method: 'POST',
        url: '/webhooks/github',
        payload: body,
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
      });
      assert.equal(res.statusCode, 202);
      await waitFor('the pushed commit', () => holder.current()?.revision === sha);
      assert.equal(bobMonthly(holder), 640);
    } finally {
      await app.close();
      await m.stop();
    }
  });
});

const hasSshKeygen = spawnSync('ssh-keygen', ['-?']).error === undefined;

describe('signed commits', { skip: !hasSshKeygen && 'ssh-keygen not installed' }, () => {
  test('only commits signed by an allowed signer are activated', async () => {
    const keys = tempDir('keys');
    const key = join(keys, 'signer');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'pat', '-f', key]);
    const allowed = join(keys, 'allowed_signers');
    writeFileSync(allowed, `pat@acme.example ${readFileSync(`${key}.pub`, 'utf8')}`);
    const repo = policyRepo();
    const signing = ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}`];
    git(repo.work, ...signing, 'commit', '--quiet', '--amend', '--no-edit', '-S');
    repo.push(true);
    const signedHead = git(repo.work, 'rev-parse', 'HEAD');

    const holder = new SnapshotHolder();
    const { logger, registry } = collectingLogger();
    const m = createPolicyManager({
      source: { kind: 'git', url: repo.remote },
      holder,
      dataDir: tempDir('data'),
      pollSeconds: 0,
      allowedSigners: allowed,
      logger,
      registry,
    });
    await m.start();
    try {
      assert.equal(holder.current()?.revision, signedHead);

      const unsigned = repo.change('keys/app-dev.yaml', setBobBudget(999), 'Unsigned change');
      await m.triggerFetch('test');
      assert.equal(holder.current()?.revision, signedHead);
      assert.equal(m.status().rejected?.revision, unsigned);
      assert.match(m.status().rejected?.problems[0]?.message ?? '', /not signed by an allowed signer/);
      assert.match(
        await registry.metrics(),
        /portcullis_policy_reload_failures_total\{reason="unsigned"\} 1/,
      );

      writeFileSync(
        join(repo.work, 'keys', 'app-dev.yaml'),
        setBobBudget(555)(readFileSync(join(repo.work, 'keys', 'app-dev.yaml'), 'utf8')),
      );
      git(repo.work, 'add', '-A');
      git(repo.work, ...signing, 'commit', '--quiet', '-S', '-m', 'Signed change');
      repo.push();
      const signed = git(repo.work, 'rev-parse', 'HEAD');
      await m.triggerFetch('test');
      assert.equal(holder.current()?.revision, signed);
      assert.equal(bobMonthly(holder), 555);
    } finally {
      await m.stop();
    }
  });
});
