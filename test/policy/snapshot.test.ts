import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildSnapshot } from '../../src/policy/build-snapshot.ts';
import type { DecisionInput } from '../../src/policy/decision.ts';
import { keyFacts } from '../../src/policy/key-facts.ts';
import { PolicyInvalidError } from '../../src/policy/problems.ts';
import { priceFor } from '../../src/providers/pricing.ts';
import { examplePolicyCopy, TEST_KEYS } from '../fixtures/keys.ts';
import { edit, policyCopy } from './helpers.ts';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function inputFor(
  snapshot: Awaited<ReturnType<typeof buildSnapshot>>,
  keyPlain: string,
  model: string,
  api: 'anthropic' | 'openai' | 'gemini' = 'anthropic',
  surface: DecisionInput['surface'] = 'anthropic.messages',
): DecisionInput {
  const key = snapshot.keysByHash.get(sha256(keyPlain))!;
  const provider = snapshot.providerFor(api, model);
  assert.ok(provider, `no ${api} provider serves ${model}`);
  return {
    surface,
    provider: provider.id,
    model,
    pricedModel: priceFor(provider, model)?.id,
    stream: false,
    tools: ['Read', 'Bash', 'Write'],
    sizes: { bodyBytes: 2000, estimatedInputTokens: 500, maxOutputTokens: 1024 },
    auth: { status: 'ok', enforced: true },
    key: keyFacts(key),
    usage: { budgets: [], rateLimits: [] },
    guardrails: { findings: [] },
  };
}

describe('snapshot: the real Rego compiled to Wasm', async () => {
  const { dir } = examplePolicyCopy();
  const cacheDir = mkdtempSync(join(tmpdir(), 'portcullis-cache-'));
  const snapshot = await buildSnapshot({ dir, cacheDir });

  test('indexes keys by hash and resolves the team lineage', () => {
    const bob = snapshot.keysByHash.get(sha256(TEST_KEYS.member));
    assert.equal(bob?.id, 'bob-dev');
    assert.deepEqual(bob?.teams, ['app-dev', 'acme']);
    assert.equal(snapshot.keys.get('dave-former')?.disabled, true);
    assert.equal(snapshot.keys.get('erin-contractor')?.expiresAt, Date.parse('2026-06-30T23:59:59Z'));
  });

  test('keeps each key once: resolved in keys, not again as a raw document', () => {
    assert.equal(snapshot.documents.has('VirtualKey'), false);
    assert.equal(snapshot.keys.get('bob-dev')?.owner, 'bob@acme.example');
    assert.ok(snapshot.documents.get('Team')?.has('app-dev'));
  });

  test('a member may use a cost-efficient model; denied agent tools are stripped', () => {
    const d = snapshot.evaluate(inputFor(snapshot, TEST_KEYS.member, 'claude-haiku-4-5-20251001'));
    assert.equal(d.allow, true);
    assert.deepEqual(d.stripTools, ['Bash', 'Write']);
  });

  test('a member may not use a research-grade model; the principal may', () => {
    const denied = snapshot.evaluate(inputFor(snapshot, TEST_KEYS.member, 'claude-opus-4-5'));
    assert.equal(denied.allow, false);
    assert.equal(denied.status, 403);
    assert.match(denied.reasons[0], /Key bob-dev \(team app-dev\) may not use model claude-opus-4-5/);
    const allowed = snapshot.evaluate(inputFor(snapshot, TEST_KEYS.principal, 'claude-opus-4-5'));
    assert.equal(allowed.allow, true);
    assert.deepEqual(allowed.stripTools, []);
  });

  // README and docs/agents.md promise the agents work unchanged for the principal: each one's default
  // model must be priced (else the policy answers model_not_found) and allowed.
  test("the principal may use each agent's default model (Claude Code, Codex, Gemini CLI)", () => {
    const defaults = [
      ['anthropic', 'anthropic.messages', 'claude-opus-4-8'],
      ['openai', 'openai.responses', 'gpt-6.2-sol'],
      ['gemini', 'gemini.generate', 'gemini-3.1-pro-preview'],
    ] as const;
    for (const [api, surface, model] of defaults) {
      const d = snapshot.evaluate(inputFor(snapshot, TEST_KEYS.principal, model, api, surface));
      assert.equal(d.allow, true, `${model}: ${d.reasons.join(' ')}`);
    }
  });

  test('text outside ASCII survives the trip through Wasm memory', () => {
    const model = 'modèle-ü-模型-🚀';
    const d = snapshot.evaluate(inputFor(snapshot, TEST_KEYS.member, model));
    assert.equal(d.allow, false);
    assert.ok(
      d.reasons.some((r) => r.includes(model)),
      d.reasons.join(' | '),
    );
  });

  test('the compiled Wasm is cached by Rego content', async () => {
    assert.equal(readdirSync(cacheDir).filter((f) => f.endsWith('.wasm')).length, 1);
    const again = await buildSnapshot({ dir, cacheDir });
    assert.equal(again.revision, snapshot.revision);
    assert.equal(readdirSync(cacheDir).filter((f) => f.endsWith('.wasm')).length, 1);
  });

  test('revision outside git is a content hash that changes with the policy', async () => {
    assert.match(snapshot.revision, /^sha256:[0-9a-f]{64}$/);
    edit(dir, 'teams/acme.yaml', (t) => t.replace('amountUsd: 20000', 'amountUsd: 25000'));
    const changed = await buildSnapshot({ dir, cacheDir });
    assert.notEqual(changed.revision, snapshot.revision);
  });

  test('content logging resolves key → nearest team → gateway', async () => {
    const copy = policyCopy();
    edit(copy, 'gateway.yaml', (t) => t.replace('contentLogging: false', 'contentLogging: true'));
    edit(copy, 'teams/acme.yaml', (t) =>
      t.replace(
        '  displayName: Platform Engineering',
        '  displayName: Platform Engineering\n  contentLogging: false',
      ),
    );
    edit(copy, 'keys/app-dev.yaml', (t) =>
      t.replace('  owner: carol@acme.example', '  owner: carol@acme.example\n  contentLogging: false'),
    );
    const s = await buildSnapshot({ dir: copy, cacheDir });
    assert.equal(s.keys.get('bob-dev')?.contentLogging, true, 'app-dev says nothing: the gateway default');
    assert.equal(s.keys.get('carol-dev')?.contentLogging, false, 'the key itself');
    assert.equal(s.keys.get('alice-principal')?.contentLogging, false, 'platform turns it off');
  });

  test('PORTCULLIS_UPSTREAM_<PROVIDER> overrides the base URL', async () => {
    const s = await buildSnapshot({
      dir,
      cacheDir,
      env: { PORTCULLIS_UPSTREAM_OPENAI: 'http://127.0.0.1:9/' },
    });
    assert.equal(s.providers.get('openai')?.baseUrl, 'http://127.0.0.1:9');
    assert.equal(s.providers.get('anthropic')?.baseUrl, 'https://api.anthropic.com');
  });
});

describe('snapshot: a broken policy builds nothing', () => {
  test('a Rego syntax error is reported with its file and line', async () => {
    const dir = policyCopy();
    writeFileSync(
      join(dir, 'rego', 'extra.rego'),
      'package portcullis.gateway\n\nbroken if {\n\tinput.x ==\n}\n',
    );
    await assert.rejects(buildSnapshot({ dir }), (err: unknown) => {
      assert.ok(err instanceof PolicyInvalidError);
      assert.equal(err.problems[0].file, 'rego/extra.rego');
      assert.ok(err.problems[0].line >= 4);
      assert.match(err.problems[0].message, /rego_parse_error/);
      return true;
    });
  });

  test('a schema error rejects before compiling', async () => {
    const dir = policyCopy();
    edit(dir, 'gateway.yaml', (t) => t.replace('failMode: closed', 'failMode: maybe'));
    await assert.rejects(
      buildSnapshot({ dir }),
      /gateway\.yaml:\d+:\d+: spec\.failMode: must be one of: closed, open/,
    );
  });
});
