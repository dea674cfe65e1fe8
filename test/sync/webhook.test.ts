import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import { registerWebhookRoutes, type WebhookOptions } from '../../src/sync/webhook.ts';

const SECRET = 'webhook-secret-for-tests';
const TOKEN = 'gitlab-token-for-tests';
const PAYLOAD = JSON.stringify({ ref: 'refs/heads/main', after: 'abc123' });

function sign(body: string, secret = SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

async function server(options: WebhookOptions) {
  const reasons: string[] = [];
  const app = Fastify();
  await registerWebhookRoutes(app, { triggerFetch: async (r) => void reasons.push(r) }, options);
  await app.ready();
  return { app, reasons };
}

describe('push webhooks', () => {
  test('GitHub: a valid signature over the raw body triggers a fetch', async () => {
    const { app, reasons } = await server({ githubSecret: SECRET });
    // Whitespace the JSON parser would drop is part of what GitHub signed.
    const body = `${PAYLOAD}\n  `;
    for (const url of ['/webhooks/github', '/webhooks/git']) {
      const res = await app.inject({
        method: 'POST',
        url,
        payload: body,
        headers: {
          'content-type': 'application/json',
          'x-hub-signature-256': sign(body),
          'x-github-event': 'push',
        },
      });
      assert.equal(res.statusCode, 202, url);
    }
    assert.deepEqual(reasons, ['webhook: github push', 'webhook: github push']);
    await app.close();
  });

  test('GitHub: bad, re-signed-with-another-secret and missing signatures are refused without a fetch', async () => {
    const { app, reasons } = await server({ githubSecret: SECRET });
    const cases: Record<string, string>[] = [
      { 'x-hub-signature-256': sign(`${PAYLOAD} `) },
      { 'x-hub-signature-256': sign(PAYLOAD, 'other-secret') },
      { 'x-hub-signature-256': 'sha256=00' },
      {},
    ];
    for (const headers of cases) {
      const res = await app.inject({
        method: 'POST',
        url: '/webhooks/github',
        payload: PAYLOAD,
        headers: { 'content-type': 'application/json', ...headers },
      });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.doesNotMatch(res.body, new RegExp(SECRET));
    }
    assert.deepEqual(reasons, []);
    await app.close();
  });

  test('GitLab: the shared token is checked', async () => {
    const { app, reasons } = await server({ gitlabToken: TOKEN });
    const send = (url: string, token?: string) =>
      app.inject({
        method: 'POST',
        url,
        payload: PAYLOAD,
        headers: { 'content-type': 'application/json', ...(token ? { 'x-gitlab-token': token } : {}) },
      });
    assert.equal((await send('/webhooks/gitlab', TOKEN)).statusCode, 202);
    assert.equal((await send('/webhooks/git', TOKEN)).statusCode, 202);
    assert.equal((await send('/webhooks/gitlab', `${TOKEN}x`)).statusCode, 401);
    assert.equal((await send('/webhooks/gitlab')).statusCode, 401);
    assert.equal((await send('/webhooks/git')).statusCode, 401);
    assert.equal(reasons.length, 2);
    await app.close();
  });

  test('no secret configured: the routes do not exist', async () => {
    const saved = { gh: process.env.PORTCULLIS_WEBHOOK_SECRET, gl: process.env.PORTCULLIS_GITLAB_TOKEN };
    delete process.env.PORTCULLIS_WEBHOOK_SECRET;
    delete process.env.PORTCULLIS_GITLAB_TOKEN;
    try {
      const { app, reasons } = await server({});
      for (const url of ['/webhooks/github', '/webhooks/gitlab', '/webhooks/git']) {
        const res = await app.inject({
          method: 'POST',
          url,
          payload: PAYLOAD,
          headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(PAYLOAD) },
        });
        assert.equal(res.statusCode, 404, url);
      }
      assert.deepEqual(reasons, []);
      await app.close();
    } finally {
      if (saved.gh !== undefined) process.env.PORTCULLIS_WEBHOOK_SECRET = saved.gh;
      if (saved.gl !== undefined) process.env.PORTCULLIS_GITLAB_TOKEN = saved.gl;
    }
  });

  test('secrets default to the environment variables', async () => {
    process.env.PORTCULLIS_WEBHOOK_SECRET = SECRET;
    try {
      const { app, reasons } = await server({});
      const res = await app.inject({
        method: 'POST',
        url: '/webhooks/github',
        payload: PAYLOAD,
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(PAYLOAD) },
      });
      assert.equal(res.statusCode, 202);
      assert.equal(reasons.length, 1);
      await app.close();
    } finally {
      delete process.env.PORTCULLIS_WEBHOOK_SECRET;
    }
  });

  test('the raw-body parser stays inside the webhook routes', async () => {
    const app = Fastify();
    app.post('/echo', async (req) => ({ type: typeof req.body }));
    await registerWebhookRoutes(app, { triggerFetch: async () => {} }, { githubSecret: SECRET });
    const res = await app.inject({ method: 'POST', url: '/echo', payload: { a: 1 } });
    assert.deepEqual(res.json(), { type: 'object' });
    await app.close();
  });
});
