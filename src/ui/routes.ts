// The read-only dashboard at /ui, served by the gateway: pages render from the audit rollup and the
// active snapshot; Chart.js comes from this installation's node_modules (nothing is fetched at run
// time). Every page needs a viewer (see auth.ts); without an authorizer the dashboard is off.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseTimeArg } from '../audit/query.ts';
import type { AuditOutcome, AuditRecord } from '../audit/record.ts';
import type { AuditFilter } from '../audit/store.ts';
import type { Snapshot } from '../policy/snapshot.ts';
import { REPO_ROOT } from '../toolchain/tools.ts';
import { SESSION_COOKIE, sessionValue, type UiAuthorizer, type UiViewer } from './auth.ts';
import { auditPage, loginPage, overviewPage, policyPage, refusalsPage, type SearchForm } from './pages.ts';
import { AuditRollup } from './rollup.ts';
import { AuditSearch } from './search.ts';
import { overview, policyHistory, refusals } from './views.ts';

export interface DashboardOptions {
  dataDir: string;
  snapshot: () => Snapshot | undefined;
  /** Who may read; undefined turns the dashboard off (every page answers 503 saying how to turn it on). */
  authorize?: UiAuthorizer;
  /** The admin token /ui/login accepts (the session cookie is derived from it). */
  adminToken?: string;
  now?: () => number;
}

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

// From the package root, so the installed package (compiled to dist/) finds them too.
const assetDir = join(REPO_ROOT, 'src', 'ui', 'assets');
const chartDir = dirname(fileURLToPath(import.meta.resolve('chart.js')));
const ASSETS: Record<string, { file: string; type: string }> = {
  'chart.umd.min.js': { file: join(chartDir, 'chart.umd.min.js'), type: 'text/javascript; charset=utf-8' },
  'dashboard.js': { file: join(assetDir, 'dashboard.js'), type: 'text/javascript; charset=utf-8' },
  'style.css': { file: join(assetDir, 'style.css'), type: 'text/css; charset=utf-8' },
};

const OUTCOMES = new Set(['allowed', 'denied', 'blocked', 'aborted', 'error']);

export function registerDashboard(app: FastifyInstance, opts: DashboardOptions): { close(): void } {
  const now = opts.now ?? Date.now;
  let rollup: AuditRollup | undefined;
  const fresh = (): AuditRollup => {
    rollup ??= new AuditRollup(opts.dataDir);
    rollup.catchUp();
    return rollup;
  };
  const search = new AuditSearch(opts.dataDir);
  const assets = new Map(
    Object.entries(ASSETS).map(([name, a]) => [name, { body: readFileSync(a.file), type: a.type }]),
  );

  const page = (reply: FastifyReply, status: number, body: string) =>
    reply
      .code(status)
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', CSP)
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(body);

  /** The viewer, or an answer already sent (login page, 503 when off). */
  const viewer = async (request: FastifyRequest, reply: FastifyReply): Promise<UiViewer | null> => {
    if (opts.authorize === undefined) {
      page(
        reply,
        503,
        '<!doctype html><title>Dashboard off</title><p>The dashboard is off: set PORTCULLIS_ADMIN_TOKEN on the gateway to turn it on.</p>',
      );
      return null;
    }
    const v = await opts.authorize(request.headers);
    if (v === null) {
      if ((request.headers.accept ?? '').includes('text/html')) reply.redirect('/ui/login', 303);
      else page(reply, 401, loginPage('Sign in with the admin token.'));
    }
    return v;
  };

  app.get('/ui/assets/:name', (request, reply) => {
    const asset = assets.get((request.params as { name: string }).name);
    if (!asset) return reply.code(404).send('not found');
    return reply
      .header('content-type', asset.type)
      .header('cache-control', 'public, max-age=3600')
      .send(asset.body);
  });

  app.get('/ui/login', (_request, reply) => page(reply, 200, loginPage()));
  app.post('/ui/login', (request, reply) => {
    const token =
      new URLSearchParams(Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '').get('token') ??
      '';
    if (
      opts.adminToken === undefined ||
      token === '' ||
      sessionValue(token) !== sessionValue(opts.adminToken)
    ) {
      return page(reply, 401, loginPage('That token is not the admin token.'));
    }
    const secure = request.protocol === 'https' ? '; Secure' : '';
    return reply
      .header(
        'set-cookie',
        `${SESSION_COOKIE}=${sessionValue(opts.adminToken)}; Path=/ui; HttpOnly; SameSite=Strict${secure}`,
      )
      .redirect('/ui', 303);
  });

  app.get('/ui', async (request, reply) => {
    const v = await viewer(request, reply);
    if (!v) return reply;
    return page(reply, 200, overviewPage(overview(fresh(), opts.snapshot(), now()), v.name));
  });

  app.get('/ui/refusals', async (request, reply) => {
    const v = await viewer(request, reply);
    if (!v) return reply;
    return page(reply, 200, refusalsPage(refusals(fresh(), now()), v.name));
  });

  app.get('/ui/policy', async (request, reply) => {
    const v = await viewer(request, reply);
    if (!v) return reply;
    const snapshot = opts.snapshot();
    const history = snapshot ? await policyHistory(snapshot.source.dir) : { error: 'no active policy' };
    return page(reply, 200, policyPage(snapshot?.revision ?? '(none)', history, v.name));
  });

  app.get('/ui/audit', async (request, reply) => {
    const v = await viewer(request, reply);
    if (!v) return reply;
    const q = request.query as Record<string, string | undefined>;
    const form: SearchForm = {};
    for (const k of ['key', 'team', 'owner', 'model', 'outcome', 'code', 'request', 'since'] as const) {
      const value = q[k]?.trim();
      if (value) form[k] = value.slice(0, 200);
    }
    const filter: AuditFilter = { limit: 100, order: 'desc' };
    let error: string | undefined;
    if (form.key) filter.keyId = form.key;
    if (form.team) filter.team = form.team;
    if (form.owner) filter.owner = form.owner;
    if (form.model) filter.model = form.model;
    if (form.code) filter.decisionCode = form.code;
    if (form.request) filter.requestId = form.request;
    if (form.outcome) {
      if (OUTCOMES.has(form.outcome)) filter.outcome = form.outcome as AuditOutcome;
      else error = `outcome is one of ${[...OUTCOMES].join(', ')}`;
    }
    if (form.since) {
      try {
        filter.sinceMs = parseTimeArg(form.since, now());
      } catch (err) {
        error = (err as Error).message;
      }
    }
    const rows = (error ? [] : search.find(filter)).map((e) => ({
      seq: e.seq,
      record: JSON.parse(e.json) as AuditRecord,
    }));
    return page(reply, error ? 400 : 200, auditPage(form, rows, v.name, error));
  });

  return {
    close() {
      rollup?.close();
      rollup = undefined;
      search.close();
    },
  };
}
