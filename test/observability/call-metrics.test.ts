import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { CallMetrics, perKeyLabelsOf } from '../../src/observability/call-metrics.ts';
import { makeRecord } from '../audit/helpers.ts';

async function series(
  registry: Registry,
  name: string,
): Promise<{ labels: Record<string, string | number>; value: number }[]> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []) as { labels: Record<string, string | number>; value: number }[];
}

describe('per-call metrics', () => {
  test('requests, tokens, spend, findings, tools and refusals follow the records', async () => {
    const registry = new Registry();
    const metrics = new CallMetrics(registry);
    metrics.observe(makeRecord(1, { costUsd: 0.25, tokens: { input: 100, output: 20, cached: 5 } }), {
      ttfbMs: 120,
    });
    metrics.observe(makeRecord(2, { costUsd: 0.5, tokens: { input: 300, output: 0, cached: 0 } }));
    metrics.observe(
      makeRecord(3, {
        outcome: 'denied',
        costUsd: 0,
        tokens: { input: 0, output: 0, cached: 0 },
        decision: {
          allow: false,
          status: 402,
          code: 'budget_exceeded',
          reasons: ['team platform is over budget'],
        },
        findings: [
          {
            action: 'block',
            chain: 'default',
            fingerprint: 'f1',
            path: 'messages[0]',
            rule: 'aws-access-key',
            stage: 'request',
            step: 0,
            type: 'secret',
          },
        ],
        tools: { stripped: ['Bash', 'WebFetch'], deniedCalls: [] },
      }),
    );
    const requests = await series(registry, 'portcullis_requests_total');
    const allowed = requests.find((s) => s.labels.outcome === 'allowed');
    assert.deepEqual(allowed?.labels, {
      surface: 'anthropic.messages',
      provider: 'anthropic',
      model: 'claude-sonnet-4',
      team: 'platform',
      outcome: 'allowed',
      code: 'ok',
      key: '',
    });
    assert.equal(allowed?.value, 2);
    assert.equal(requests.find((s) => s.labels.code === 'budget_exceeded')?.value, 1);
    const tokens = await series(registry, 'portcullis_tokens_total');
    assert.equal(tokens.find((s) => s.labels.type === 'input')?.value, 400);
    assert.equal(tokens.find((s) => s.labels.type === 'output')?.value, 20);
    assert.equal(tokens.find((s) => s.labels.type === 'cached')?.value, 5);
    assert.equal((await series(registry, 'portcullis_spend_usd_total'))[0].value, 0.75);
    const findings = await series(registry, 'portcullis_guardrail_findings_total');
    assert.deepEqual(findings[0].labels, {
      chain: 'default',
      rule: 'aws-access-key',
      action: 'block',
      stage: 'request',
    });
    assert.equal((await series(registry, 'portcullis_tools_stripped_total'))[0].value, 2);
    assert.deepEqual((await series(registry, 'portcullis_limit_refusals_total'))[0].labels, {
      reason: 'budget',
      team: 'platform',
    });
    const ttfb = await series(registry, 'portcullis_upstream_ttfb_seconds');
    assert.equal(ttfb.find((s) => (s.labels as { le?: unknown }).le === 0.25)?.value, 1);
    // No key label and no key budget without the policy's opt-in.
    const text = await registry.metrics();
    assert.doesNotMatch(text, /alice-laptop/);
  });

  test('model names chosen by callers are bounded; per-key labels and key budgets appear only when the policy turns them on', async () => {
    const registry = new Registry();
    let perKey = false;
    const metrics = new CallMetrics(registry, { maxModels: 2, perKeyLabels: () => perKey });
    for (const model of ['m-1', 'm-2', 'm-3', 'm-4']) metrics.observe(makeRecord(1, { model }));
    const models = (await series(registry, 'portcullis_requests_total')).map((s) => s.labels.model);
    assert.deepEqual(models.sort(), ['_other', 'm-1', 'm-2']);
    const budgets = [
      {
        id: 'key:alice-laptop:monthly',
        scope: 'key' as const,
        owner: 'alice-laptop',
        period: 'monthly' as const,
        limitUsd: 10,
        usedUsd: 4,
        requestUsd: 1,
      },
      {
        id: 'team:platform:monthly',
        scope: 'team' as const,
        owner: 'platform',
        period: 'monthly' as const,
        limitUsd: 100,
        usedUsd: 49.5,
        requestUsd: 1,
      },
    ];
    metrics.observe(makeRecord(2, { costUsd: 0.5 }), { budgets });
    let util = await series(registry, 'portcullis_budget_utilisation_ratio');
    assert.deepEqual(
      util.map((s) => [s.labels.budget, s.value]),
      [['team:platform:monthly', 0.5]],
    );
    perKey = true;
    metrics.observe(makeRecord(3, { costUsd: 1 }), { budgets });
    util = await series(registry, 'portcullis_budget_utilisation_ratio');
    assert.equal(util.find((s) => s.labels.scope === 'key')?.value, 0.5);
    assert.ok(
      (await series(registry, 'portcullis_requests_total')).some((s) => s.labels.key === 'alice-laptop'),
    );
  });

  test('the opt-in is read from the Gateway document', () => {
    const docs = (perKeyLabels: unknown) =>
      new Map([['Gateway', new Map([['gateway', { spec: { metrics: { perKeyLabels } } }]])]]);
    assert.equal(perKeyLabelsOf(docs(true)), true);
    assert.equal(perKeyLabelsOf(docs(false)), false);
    assert.equal(perKeyLabelsOf(new Map()), false);
  });
});
