// The dashboard's routes without a browser: who may read, what the numbers are, and that audit
// content is shown exactly as stored (already redacted) and escaped.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import { simpleGit } from 'simple-git';
import { AuditStore } from '../../src/audit/store.ts';
import type { Snapshot } from '../../src/policy/snapshot.ts';
import { adminTokenAuthorizer, SESSION_COOKIE, sessionValue } from '../../src/ui/auth.ts';
import { registerDashboard } from '../../src/ui/routes.ts';
import { makeRecord, tempDir } from '../audit/helpers.ts';

const TOKEN = 'ui-test-admin-token';

async function dashboard(
  t: { after(fn: () => unknown): void },
  dir: string,
  authorize = true,
  snapshot: Snapshot | undefined = undefined,
) {
  const app = Fastify();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_r, body, done) => done(null, body));
  const d = registerDashboard(app, {
    dataDir: dir,
    snapshot: () => snapshot,
    authorize: authorize ? adminTokenAuthorizer(TOKEN) : undefined,
    adminToken: authorize ? TOKEN : undefined,
    now: () => Date.UTC(2025, 5, 2),
  });
  t.after(async () => {
    d.close();
    await app.close();
  });
  return app;
}

const bearer = { authorization: `Bearer ${TOKEN}` };
const value = (html: string, id: string) =>
  Number(new RegExp(`data-testid="${id}" data-value="([^"]+)"`).exec(html)?.[1]);

describe('dashboard routes', () => {
  test('only the admin token (header or the login cookie) opens a page; without a token configured it is off', async (t) => {
    const dir = tempDir(t);
    const app = await dashboard(t, dir);
    assert.equal((await app.inject({ url: '/ui' })).statusCode, 401);
    assert.equal(
      (await app.inject({ url: '/ui', headers: { authorization: 'Bearer wrong' } })).statusCode,
      401,
    );
    const browser = await app.inject({ url: '/ui', headers: { accept: 'text/html' } });
    assert.equal(browser.statusCode, 303);
    assert.equal(browser.headers.location, '/ui/login');
    const bad = await app.inject({
      method: 'POST',
      url: '/ui/login',
      payload: 'token=nope',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(bad.statusCode, 401);
    const login = await app.inject({
      method: 'POST',
      url: '/ui/login',
      payload: `token=${TOKEN}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(login.statusCode, 303);
    const cookie = String(login.headers['set-cookie']);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.doesNotMatch(cookie, new RegExp(TOKEN));
    const withCookie = await app.inject({
      url: '/ui',
      headers: { cookie: `${SESSION_COOKIE}=${sessionValue(TOKEN)}` },
    });
    assert.equal(withCookie.statusCode, 200);
    assert.match(String(withCookie.headers['content-security-policy']), /script-src 'self'/);
    const off = await dashboard(t, tempDir(t), false);
    const answer = await off.inject({ url: '/ui', headers: bearer });
    assert.equal(answer.statusCode, 503);
    assert.match(answer.body, /PORTCULLIS_ADMIN_TOKEN/);
  });

  test('totals follow the audit log as it grows', async (t) => {
    const dir = tempDir(t);
    const store = new AuditStore(`${dir}/audit.db`);
    const records = Array.from({ length: 40 }, (_, i) =>
      makeRecord(i, {
        costUsd: 0.001 * (i + 1),
        outcome: i % 10 === 0 ? 'denied' : 'allowed',
        owner: i % 2 === 0 ? 'alice' : 'bob',
        decision:
          i % 10 === 0
            ? {
                allow: false,
                status: 403,
                code: 'model_not_allowed',
                reasons: ['model gpt-9 is not allowed'],
              }
            : { allow: true, status: 200, code: 'ok', reasons: [] },
      }),
    );
    store.append(records.slice(0, 30));
    const app = await dashboard(t, dir);
    let page = (await app.inject({ url: '/ui', headers: bearer })).body;
    assert.equal(value(page, 'calls'), 30);
    store.append(records.slice(30));
    store.close();
    page = (await app.inject({ url: '/ui', headers: bearer })).body;
    assert.equal(value(page, 'calls'), 40);
    assert.equal(value(page, 'spend').toFixed(6), records.reduce((a, r) => a + r.costUsd, 0).toFixed(6));
    assert.equal(value(page, 'refused'), 4);
    const alice = records.filter((r) => r.owner === 'alice').reduce((a, r) => a + r.costUsd, 0);
    assert.match(
      page,
      new RegExp(
        `data-owner="alice"><td>alice</td><td class="num" data-value="20">20</td><td class="num" data-value="${alice}"`,
      ),
    );
    const refusals = (await app.inject({ url: '/ui/refusals', headers: bearer })).body;
    assert.match(refusals, /model gpt-9 is not allowed/);
    assert.match(refusals, /data-value="4">4</);
  });

  test('audit search shows content exactly as stored (redacted), escaped, and nothing for an unknown filter', async (t) => {
    const dir = tempDir(t);
    const store = new AuditStore(`${dir}/audit.db`);
    const stored =
      '{"messages":[{"role":"user","content":"token [REDACTED:github-pat] <script>alert(1)</script>"}]}';
    store.append([
      makeRecord(1, { requestId: 'req-content', content: { request: stored, response: 'ok' } }),
      makeRecord(2),
    ]);
    store.close();
    const app = await dashboard(t, dir);
    const page = (await app.inject({ url: '/ui/audit?request=req-content', headers: bearer })).body;
    assert.match(page, /data-request="req-content"/);
    assert.doesNotMatch(page, /data-request="req-2"/);
    assert.ok(page.includes('[REDACTED:github-pat] &lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.doesNotMatch(page, /<script>alert/);
    const bad = await app.inject({ url: '/ui/audit?outcome=whatever', headers: bearer });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /outcome is one of/);
  });

  test('the policy page lists who changed the policy directory, when and what, marking the active revision', async (t) => {
    const repo = tempDir(t);
    const git = simpleGit(repo);
    await git.init();
    await git.addConfig('user.name', 'Pat Platform');
    await git.addConfig('user.email', 'pat@acme.example');
    mkdirSync(join(repo, 'policies'));
    writeFileSync(join(repo, 'policies', 'gateway.yaml'), 'a: 1\n');
    await git.add('.');
    await git.commit('Add the gateway settings');
    writeFileSync(join(repo, 'policies', 'team.yaml'), 'b: 2\n');
    writeFileSync(join(repo, 'README'), 'outside the policy directory\n');
    await git.add('.');
    await git.commit('Raise the app-dev budget');
    const head = (await git.revparse(['HEAD'])).trim();
    const snapshot = {
      revision: head,
      source: { revision: head, dir: join(repo, 'policies') },
    } as unknown as Snapshot;
    const app = await dashboard(t, tempDir(t), true, snapshot);
    const page = (await app.inject({ url: '/ui/policy', headers: bearer })).body;
    assert.match(page, /Raise the app-dev budget/);
    assert.match(page, /Add the gateway settings/);
    assert.match(page, /Pat Platform/);
    assert.match(page, new RegExp(`<tr class="active"><td><code>${head.slice(0, 12)}</code>`));
    assert.match(page, /team\.yaml/);
    assert.doesNotMatch(page, /README/);
  });
});
