// The Grafana dashboard in dashboards/ may only chart metrics a running gateway exposes.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startServing } from '../../src/cli/serve.ts';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';
import { examplePolicyCopy } from '../fixtures/keys.ts';

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

test('every metric the Grafana dashboard queries is exposed at /metrics', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-grafana-'));
  let serving: Awaited<ReturnType<typeof startServing>> | undefined;
  // One hook, in this order: the data directory goes only after the gateway has stopped writing to it.
  t.after(async () => {
    await serving?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const { dir } = examplePolicyCopy();
  serving = await startServing({
    policyDir: dir,
    port: 0,
    host: '127.0.0.1',
    dataDir,
    logLevel: 'silent',
  });
  const text = await (await fetch(`${serving.url}/metrics`)).text();
  const exposed = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)/gm)].map((m) => m[1]));

  const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'dashboards/portcullis.json'), 'utf8')) as {
    panels: Panel[];
  };
  const queried = new Set<string>();
  for (const panel of dashboard.panels) {
    assert.ok(panel.targets && panel.targets.length > 0, `panel ${panel.title} queries nothing`);
    for (const target of panel.targets) {
      for (const m of target.expr.matchAll(/\bportcullis_[a-z0-9_]+/g)) {
        queried.add(m[0].replace(/_(bucket|sum|count)$/, ''));
      }
    }
  }
  assert.ok(queried.size >= 15, `the dashboard queries ${queried.size} metrics`);
  const missing = [...queried].filter((name) => !exposed.has(name));
  assert.deepEqual(missing, [], `queried but not exposed: ${missing.join(', ')}`);
});
