// One gateway process with everything observability turned on, against real servers: rsyslog (audit
// over RFC 5424/TLS), Jaeger (OTLP traces), Prometheus text from /metrics, and the dashboard in
// Debian's Chromium. The same calls must show the same numbers in all four.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { AuditRecord } from '../../src/audit/record.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { CHROMIUM, launchChromium, testOutputDir } from '../observability/chromium.ts';
import { JAEGER_BIN, type Jaeger, startJaeger } from '../observability/jaeger.ts';
import { RSYSLOGD, type Rsyslog, startRsyslog } from '../observability/rsyslog.ts';
import {
  anthropicCall,
  e2ePolicy,
  type GatewayProcess,
  killAll,
  METERED_MODEL,
  openaiCall,
  startGateway,
  startSimulator,
} from './helpers.ts';

const missing = [!RSYSLOGD && 'rsyslogd', !JAEGER_BIN && 'jaeger', !CHROMIUM && 'chromium'].filter(Boolean);

const ADMIN_TOKEN = 'e2e-admin-token-0123456789';

/** The value of one Prometheus series (labels matched as given), summed over the rest. */
function metricValue(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.split(' ').pop());
  }
  return sum;
}

describe('observability end to end', {
  skip: missing.length ? `not installed: ${missing.join(', ')}` : false,
}, () => {
  let rsyslog: Rsyslog;
  let jaeger: Jaeger;
  let gw: GatewayProcess;
  let browser: Browser | undefined;
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  after(async () => {
    await browser?.close();
    await gw?.stop();
    await sim?.sim.close();
    await jaeger?.stop();
    await rsyslog?.stop();
    killAll();
  });

  test('a call shows the same numbers in a Prometheus scrape, a Jaeger trace, an rsyslog line and the dashboard', async () => {
    rsyslog = await startRsyslog();
    jaeger = await startJaeger();
    sim = await startSimulator({ historySize: 50 });
    const policy = e2ePolicy([
      { id: 'obs-alice', budgets: [{ amountUsd: 1, period: 'monthly' }] },
      { id: 'obs-bob' },
    ]);
    const gatewayFile = join(policy.dir, 'gateway.yaml');
    writeFileSync(
      gatewayFile,
      readFileSync(gatewayFile, 'utf8').replace(
        /audit:\n(\s+)contentLogging: false/,
        (_m, indent: string) =>
          `audit:\n${indent}contentLogging: false\n${indent}sinks:\n${indent}  - type: syslog\n${indent}    host: 127.0.0.1\n${indent}    port: ${rsyslog.port}\n${indent}    tls: { caFile: ${rsyslog.caFile} }\n${indent}    retryBaseMs: 20`,
      ),
    );
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-obs-'));
    gw = await startGateway({
      policyDir: policy.dir,
      simUrl: sim.url,
      dataDir,
      env: {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${jaeger.otlpUrl}/v1/traces`,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        PORTCULLIS_ADMIN_TOKEN: ADMIN_TOKEN,
      },
    });

    // The traced call, plus traffic around it: a second key, a stream, a refusal.
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const traced = await anthropicCall(gw.url, policy.keys['obs-alice'], {
      headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` },
    });
    assert.equal(traced.status, 200, traced.text);
    const requestId = traced.headers.get('x-request-id');
    assert.ok(requestId);
    assert.equal((await anthropicCall(gw.url, policy.keys['obs-alice'], { stream: true })).status, 200);
    assert.equal((await openaiCall(gw.url, policy.keys['obs-bob'])).status, 200);
    // A model the key may not use: refused by the policy.
    const refused = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': policy.keys['obs-bob'],
        'anthropic-version': '2023-06-01',
      },
      body: JSON.stringify({
        model: 'claude-opus-4-1',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    assert.equal(refused.status, 403);

    // The audit log is the reference.
    const records = await waitForRecords(join(dataDir, 'audit.db'), 4);
    const record = records.find((r) => r.requestId === requestId);
    assert.ok(record, 'the traced call is in the audit log');
    assert.ok(record.costUsd > 0);

    // 1. Prometheus.
    const scrape = await (await fetch(`${gw.url}/metrics`)).text();
    assert.doesNotMatch(scrape, /portcullis_process_process_/);
    assert.match(scrape, /portcullis_process_cpu_user_seconds_total/);
    const aliceSpend = records.filter((r) => r.keyId === 'obs-alice').reduce((a, r) => a + r.costUsd, 0);
    const teamSpend = records.reduce((a, r) => a + r.costUsd, 0);
    assert.equal(
      metricValue(scrape, 'portcullis_spend_usd_total', { team: 'app-dev', model: METERED_MODEL }).toFixed(6),
      teamSpend.toFixed(6),
    );
    assert.equal(metricValue(scrape, 'portcullis_requests_total', { outcome: 'allowed' }), 3);
    assert.equal(metricValue(scrape, 'portcullis_requests_total', { outcome: 'denied' }), 1);
    assert.equal(
      metricValue(scrape, 'portcullis_tokens_total', { type: 'output' }),
      records.reduce((a, r) => a + r.tokens.output, 0),
    );

    // 2. Jaeger: the traced call's span, with the same tokens and cost.
    const spans = await jaeger.trace(traceId, 2);
    const server = spans.find((s) =>
      s.tags.some((t) => t.key === 'portcullis.request_id' && t.value === requestId),
    );
    assert.ok(server, 'the call span is in the caller trace');
    const tag = (k: string) => server.tags.find((t) => t.key === k)?.value;
    assert.equal(tag('gen_ai.usage.output_tokens'), record.tokens.output);
    assert.equal(tag('gen_ai.usage.input_tokens'), record.tokens.input);
    assert.equal(tag('portcullis.cost_usd'), record.costUsd);
    assert.equal(tag('portcullis.policy.revision'), record.policyRevision);
    assert.equal(tag('gen_ai.request.model'), METERED_MODEL);
    // The provider got the gateway's upstream span as its parent, in the caller's trace.
    const upstream = sim.sim.requests.find((r) => r.headers.traceparent?.includes(traceId));
    assert.ok(upstream, 'the upstream request carried the trace context');
    const parentSpan = upstream.headers.traceparent.split('-')[2];
    const client = spans.find((s) => s.spanID === parentSpan);
    assert.ok(client, "the upstream traceparent names a span of the caller's trace");
    assert.equal(client.references[0]?.spanID, server.spanID);
    // 3. rsyslog: the call's audit line, same numbers.
    const lines = await rsyslog.waitFor((l) => l.some((x) => x.includes(requestId)));
    const line = lines.find((l) => l.includes(requestId)) as string;
    const sysRecord = JSON.parse(line.slice(line.indexOf('{"seq"'))).record as AuditRecord;
    assert.equal(sysRecord.costUsd, record.costUsd);
    assert.deepEqual(sysRecord.tokens, record.tokens);

    // 4. The dashboard in Chromium: sign in, then the overview and the audit search.
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    const out = testOutputDir('observability');
    await page.goto(`${gw.url}/ui`);
    assert.match(page.url(), /\/ui\/login$/);
    await page.fill('input[name=token]', ADMIN_TOKEN);
    await Promise.all([page.waitForURL(/\/ui$/), page.click('button[type=submit]')]);
    await page.waitForSelector('canvas#spend-chart[data-drawn=true]');
    const value = async (sel: string) => Number(await page.getAttribute(sel, 'data-value'));
    assert.equal(await value('[data-testid=calls]'), records.length);
    assert.equal((await value('[data-testid=spend]')).toFixed(6), teamSpend.toFixed(6));
    assert.equal(await value('[data-testid=refused]'), records.filter((r) => r.outcome === 'denied').length);
    assert.equal(
      (await value('tr[data-budget="key:obs-alice:monthly"] td.num')).toFixed(6),
      aliceSpend.toFixed(6),
    );
    assert.equal(await page.textContent('[data-testid=revision]'), record.policyRevision);
    await page.screenshot({ path: join(out, 'overview.png'), fullPage: true });

    await page.goto(`${gw.url}/ui/audit?request=${requestId}`);
    const row = page.locator(`tr[data-request="${requestId}"]`);
    assert.equal(Number(await row.locator('td.num[data-value]').getAttribute('data-value')), record.costUsd);
    await page.screenshot({ path: join(out, 'audit-search.png'), fullPage: true });

    await page.goto(`${gw.url}/ui/refusals`);
    assert.match((await page.textContent('[data-testid=refusals]')) ?? '', /model_not_allowed|not allowed/);
    await page.screenshot({ path: join(out, 'refusals.png'), fullPage: true });

    // Without the token: nothing.
    const anonymous = await fetch(`${gw.url}/ui`);
    assert.equal(anonymous.status, 401);
    assert.doesNotMatch(await anonymous.text(), /obs-alice/);
  });
});

async function waitForRecords(path: string, n: number): Promise<AuditRecord[]> {
  for (let i = 0; i < 100; i++) {
    try {
      const store = new AuditStore(path, { readOnly: true });
      const rows = store.query({ order: 'asc' });
      store.close();
      if (rows.length >= n) return rows.map((e) => JSON.parse(e.json) as AuditRecord);
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  const store = new AuditStore(path, { readOnly: true });
  const got = store.query({ order: 'asc' }).map((e) => JSON.parse(e.json).outcome);
  throw new Error(`the audit log did not reach ${n} records: ${got.join(',')}`);
}
