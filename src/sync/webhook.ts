// Push webhooks from GitHub and GitLab trigger an immediate fetch. GitHub signs the raw body
// (X-Hub-Signature-256: HMAC-SHA256); GitLab sends a shared token (X-Gitlab-Token). Both compare in
// constant time. Routes answer 404 when their secret is not configured, so an open endpoint never
// exists by accident. Secrets are never logged.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface WebhookOptions {
  /** Default: env PORTCULLIS_WEBHOOK_SECRET. */
  githubSecret?: string;
  /** Default: env PORTCULLIS_GITLAB_TOKEN. */
  gitlabToken?: string;
  /** Largest payload accepted, default 25 MiB (GitHub's own cap). */
  bodyLimit?: number;
}

export interface Fetchable {
  triggerFetch(reason: string): Promise<void>;
}

/** Equal-length digests first, so neither the content nor the length of the secret leaks by timing. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function githubSignatureValid(body: Buffer, header: string | undefined, secret: string): boolean {
  if (!header) return false;
  const expected = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return sameSecret(header, expected);
}

export function gitlabTokenValid(header: string | undefined, token: string): boolean {
  return header !== undefined && sameSecret(header, token);
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export async function registerWebhookRoutes(
  app: FastifyInstance,
  manager: Fetchable,
  options: WebhookOptions = {},
): Promise<void> {
  const githubSecret = options.githubSecret ?? (process.env.PORTCULLIS_WEBHOOK_SECRET || undefined);
  const gitlabToken = options.gitlabToken ?? (process.env.PORTCULLIS_GITLAB_TOKEN || undefined);

  await app.register(async (scope) => {
    // Raw bytes for every content type: the HMAC covers the body exactly as sent.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: options.bodyLimit ?? 25 * 1024 * 1024 },
      (_r, body, done) => done(null, body),
    );

    const accept = (reply: FastifyReply, reason: string) => {
      manager.triggerFetch(reason).catch(() => undefined);
      return reply.code(202).send({ accepted: true });
    };
    const deny = (reply: FastifyReply) =>
      reply.code(401).send({ error: 'invalid or missing webhook signature' });
    const absent = (reply: FastifyReply) => reply.code(404).send({ error: 'webhook not configured' });
    const bodyOf = (req: FastifyRequest) => (Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));

    const github = (req: FastifyRequest, reply: FastifyReply) => {
      if (!githubSecret) return absent(reply);
      if (!githubSignatureValid(bodyOf(req), header(req, 'x-hub-signature-256'), githubSecret))
        return deny(reply);
      return accept(reply, `webhook: github ${header(req, 'x-github-event') ?? 'event'}`);
    };
    const gitlab = (req: FastifyRequest, reply: FastifyReply) => {
      if (!gitlabToken) return absent(reply);
      if (!gitlabTokenValid(header(req, 'x-gitlab-token'), gitlabToken)) return deny(reply);
      return accept(reply, `webhook: gitlab ${header(req, 'x-gitlab-event') ?? 'event'}`);
    };

    scope.post('/webhooks/github', github);
    scope.post('/webhooks/gitlab', gitlab);
    // One URL for either forge, told apart by the header each one sends.
    scope.post('/webhooks/git', (req, reply) => {
      if (!githubSecret && !gitlabToken) return absent(reply);
      if (header(req, 'x-hub-signature-256') !== undefined && githubSecret) return github(req, reply);
      if (header(req, 'x-gitlab-token') !== undefined && gitlabToken) return gitlab(req, reply);
      return deny(reply);
    });
  });
}
