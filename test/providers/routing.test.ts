// Routes from the example policy: matching, weighted order, fallbacks, circuit breakers, back-off,
// and the policy's answer about which targets a key may use.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildSnapshot } from '../../src/policy/build-snapshot.ts';
import type { DecisionInput } from '../../src/policy/decision.ts';
import { keyFacts } from '../../src/policy/key-facts.ts';
import { prepareAttempt } from '../../src/providers/routing/attempt.ts';
import {
  allowedCandidates,
  backoffMs,
  CircuitBreakers,
  failureKind,
  planFor,
  retryable,
  routeFacts,
  stickyChoice,
} from '../../src/providers/routing/index.ts';
import { matchRoute, planRoute, routesOf } from '../../src/providers/routing/routes.ts';
import { RouteRun } from '../../src/providers/routing/run.ts';
import { TranslationError } from '../../src/providers/translate/index.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';

describe('routes of the example policy', async () => {
  const snapshot = await buildSnapshot({ dir: examplePolicyCopy().dir });
  const bob = snapshot.keys.get('bob-dev')!;
  const alice = snapshot.keys.get('alice-principal')!;

  test('an app-dev key asking for Claude Code’s default model is served by its alias, then the fallback', () => {
    const plan = planFor(snapshot, 'anthropic.messages', 'claude-opus-4-8', bob, new CircuitBreakers())!;
    assert.equal(plan.route.name, 'app-dev-defaults');
    assert.deepEqual(
      plan.candidates.map((c) => [c.provider.id, c.model, c.surface, c.translated]),
      [
        ['anthropic', 'claude-sonnet-4-5', 'anthropic.messages', false],
        ['openai', 'gpt-5-mini', 'openai.chat', true],
      ],
    );
  });

  test('the same model for a principal takes no route (the key may use it as asked)', () => {
    assert.equal(
      planFor(snapshot, 'anthropic.messages', 'claude-opus-4-8', alice, new CircuitBreakers()),
      undefined,
    );
  });

  test('Claude Code on a GPT model goes to OpenAI Responses; Codex on Claude to Anthropic, the model as asked', () => {
    const gpt = planFor(snapshot, 'anthropic.messages', 'gpt-5', alice, new CircuitBreakers())!;
    assert.deepEqual(
      [gpt.candidates[0].provider.id, gpt.candidates[0].model, gpt.candidates[0].surface],
      ['openai', 'gpt-5', 'openai.responses'],
    );
    const claude = planFor(snapshot, 'openai.responses', 'claude-sonnet-4-5', alice, new CircuitBreakers())!;
    assert.deepEqual(
      [claude.candidates[0].provider.id, claude.candidates[0].surface],
      ['anthropic', 'anthropic.messages'],
    );
    assert.equal(
      planFor(snapshot, 'openai.responses', 'claude-unknown-9', alice, new CircuitBreakers())?.candidates
        .length,
      0,
    );
  });

  test('the policy skips a fallback the key may not use, and refuses when none is left', () => {
    const carol = snapshot.keys.get('carol-dev')!; // providers: anthropic, google
    const plan = planFor(snapshot, 'anthropic.messages', 'claude-opus-4-8', carol, new CircuitBreakers())!;
    const input: DecisionInput = {
      surface: 'anthropic.messages',
      provider: plan.candidates[0].provider.id,
      model: plan.candidates[0].model,
      pricedModel: plan.candidates[0].model,
      stream: true,
      tools: [],
      sizes: { bodyBytes: 100, estimatedInputTokens: 25, maxOutputTokens: 100 },
      auth: { status: 'ok', enforced: true },
      key: keyFacts(carol),
      usage: { budgets: [], rateLimits: [] },
      guardrails: { findings: [] },
      route: routeFacts(plan),
    };
    const d = snapshot.evaluate(input);
    assert.equal(d.allow, true, JSON.stringify(d));
    assert.deepEqual(d.routeTargets, [0]);
    assert.deepEqual(
      allowedCandidates(plan, d.routeTargets).map((c) => c.provider.id),
      ['anthropic'],
    );
  });
});

describe('weights, breakers and back-off', async () => {
  const snapshot = await buildSnapshot({ dir: examplePolicyCopy().dir });
  const route = {
    ...routesOf(snapshot).find((r) => r.name === 'app-dev-defaults')!,
    targets: [
      { provider: 'anthropic', model: 'claude-sonnet-4-5', weight: 3, role: 'target' as const },
      { provider: 'anthropic', model: 'claude-haiku-4-5', weight: 1, role: 'target' as const },
    ],
  };

  test('targets are picked first in proportion to their weights; the others follow', () => {
    const breakers = new CircuitBreakers();
    let seq = 0;
    const random = () => (((seq++ * 0.618034) % 1) + 1) % 1;
    const firsts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const plan = planRoute(snapshot, route, 'anthropic.messages', 'claude-opus-4-8', breakers, random);
      firsts.set(plan.candidates[0].model, (firsts.get(plan.candidates[0].model) ?? 0) + 1);
      assert.equal(plan.candidates.length, 3);
      assert.equal(plan.candidates[2].role, 'fallback');
    }
    const share = firsts.get('claude-sonnet-4-5')! / 4000;
    assert.ok(share > 0.72 && share < 0.78, `sonnet first in ${share} of calls, wanted ~0.75`);
  });

  test('a target whose circuit opened is skipped until its cool-down ends, then tried once', () => {
    let now = 0;
    const breakers = new CircuitBreakers(() => now);
    const plan = () => planRoute(snapshot, route, 'anthropic.messages', 'x', breakers, () => 0);
    const id = 'app-dev-defaults/anthropic/claude-sonnet-4-5';
    for (let i = 0; i < 5; i++) breakers.failure(id, route.breaker);
    assert.deepEqual(
      plan().candidates.map((c) => c.model),
      ['claude-haiku-4-5', 'gpt-5-mini'],
    );
    assert.equal(plan().all[0].circuit, 'open');
    now = 30_000;
    assert.equal(plan().candidates[0].model, 'claude-sonnet-4-5');
    assert.equal(breakers.admit(id, route.breaker), true);
    assert.equal(breakers.admit(id, route.breaker), false, 'one trial at a time');
    breakers.failure(id, route.breaker);
    assert.equal(breakers.state(id, route.breaker), 'open');
    now = 60_000;
    breakers.success(id);
    assert.equal(breakers.state(id, route.breaker), 'closed');
  });

  test('429, 5xx, time-outs and refused connections are retried when the route says so; 400 never', () => {
    const s = route.retry;
    assert.equal(failureKind(429), '429');
    assert.equal(failureKind(503), '5xx');
    assert.equal(failureKind(0, 'UND_ERR_HEADERS_TIMEOUT'), 'timeout');
    assert.equal(failureKind(0, 'ECONNREFUSED'), 'connection');
    assert.equal(failureKind(400), undefined);
    assert.ok(retryable('429', s));
    assert.ok(!retryable('429', { ...s, on: ['5xx'] }));
  });

  test('the back-off before a fallback counts from when the failed attempt was sent', async () => {
    const breakers = new CircuitBreakers();
    const capped = { ...route, retry: { ...route.retry, backoffMs: 200, maxBackoffMs: 200, maxAttempts: 3 } };
    const plan = planRoute(snapshot, capped, 'anthropic.messages', 'x', breakers, () => 0);
    const run = new RouteRun(plan, plan.candidates, breakers);
    const sent = performance.now();
    run.begin();
    await new Promise((r) => setTimeout(r, 60));
    // retry-after 1 s raises the jittered wait to the 200 ms cap; what the 429 took is spent of it.
    const wait = run.failed({ status: 429, retryAfterSeconds: 1 });
    const spent = performance.now() - sent;
    assert.ok(wait !== null && wait <= 141 && wait >= 200 - spent, `waits the rest of the back-off: ${wait}`);
    assert.equal(run.current.model, 'claude-haiku-4-5');
    run.begin();
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(run.failed({ status: 503 }), 0, 'a failure slower than the back-off moves on at once');
  });

  test('back-off doubles per attempt within the cap, with jitter, and honours retry-after within it', () => {
    const s = { on: [], maxAttempts: 5, backoffMs: 100, maxBackoffMs: 1000 };
    assert.equal(backoffMs(1, s), 0);
    assert.equal(
      backoffMs(2, s, 0, () => 0),
      50,
    );
    assert.equal(
      backoffMs(2, s, 0, () => 1),
      100,
    );
    assert.equal(
      backoffMs(3, s, 0, () => 1),
      200,
    );
    assert.equal(
      backoffMs(9, s, 0, () => 1),
      1000,
    );
    assert.equal(
      backoffMs(2, s, 0.5, () => 0),
      500,
    );
    assert.equal(
      backoffMs(2, s, 30, () => 0),
      1000,
    );
  });

  test('routes match by surface, team and model glob, best priority first', () => {
    const routes = routesOf(snapshot);
    assert.equal(matchRoute(routes, 'openai.chat', 'gemini-2.5-pro', null)?.name, 'claude-code-on-gemini');
    assert.equal(matchRoute(routes, 'gemini.generate', 'gemini-2.5-pro', null), undefined);
  });
});

describe('sessions and streams', async () => {
  const snapshot = await buildSnapshot({ dir: examplePolicyCopy().dir });
  const route = {
    ...routesOf(snapshot).find((r) => r.name === 'app-dev-defaults')!,
    targets: [
      { provider: 'anthropic', model: 'claude-sonnet-4-5', weight: 1, role: 'target' as const },
      { provider: 'anthropic', model: 'claude-haiku-4-5', weight: 1, role: 'target' as const },
    ],
  };

  test('one agent session stays on one deployment; sessions spread by weight', () => {
    const breakers = new CircuitBreakers();
    const firstFor = (session: string) =>
      planRoute(snapshot, route, 'anthropic.messages', 'x', breakers, stickyChoice(session)).candidates[0]
        .model;
    const a = firstFor('session-a');
    for (let i = 0; i < 20; i++) assert.equal(firstFor('session-a'), a);
    const spread = new Set(Array.from({ length: 40 }, (_, i) => firstFor(`s${i}`)));
    assert.equal(spread.size, 2);
  });

  test('a Gemini stream translated for another format must ask for SSE', async () => {
    const google = snapshot.providers.get('anthropic')!;
    await assert.rejects(
      prepareAttempt(
        {
          clientApi: 'gemini',
          clientSurface: 'gemini.generate',
          body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] },
          requestedModel: 'claude-sonnet-4-5',
          stream: true,
          clientPath: '/v1beta/models/claude-sonnet-4-5:streamGenerateContent',
          query: '',
          headers: {},
          hostedTools: 'refuse',
        },
        { provider: google, model: 'claude-sonnet-4-5', surface: 'anthropic.messages' },
        new URL('http://127.0.0.1:9'),
        '',
      ),
      (err: unknown) => err instanceof TranslationError && /alt=sse/.test(err.message),
    );
  });
});
