import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CounterSeries, GaugeSeries, HistogramSeries, PathCache } from '../../src/observability/series.ts';

const BUCKETS = [0.1, 1, 2.5, 10];

/** The same metrics twice: one updated through series handles, one through prom-client's own API. */
function pair(prefix: string) {
  const registry = new Registry();
  const make = (p: string) => ({
    counter: new Counter({ name: `${p}_c`, help: 'c', labelNames: ['a', 'b'], registers: [registry] }),
    gauge: new Gauge({ name: `${p}_g`, help: 'g', labelNames: ['a'], registers: [registry] }),
    histogram: new Histogram({
      name: `${p}_h`,
      help: 'h',
      labelNames: ['b', 'a'],
      buckets: BUCKETS,
      registers: [registry],
    }),
  });
  return { registry, handled: make(`${prefix}_handled`), plain: make(`${prefix}_plain`) };
}

/** The exposition of one side, its metric names made equal to the other's. */
async function text(registry: Registry, side: string): Promise<string> {
  const all = await registry.metrics();
  return all
    .split('\n\n')
    .filter((block) => block.includes(`_${side}_`))
    .join('\n\n')
    .trim()
    .replaceAll(`_${side}_`, '_');
}

test('series handles expose exactly what prom-client would, and update in place after the first update', async () => {
  const { registry, handled, plain } = pair('t');
  const labels = [
    { a: 'x', b: 'y' },
    { a: 'x', b: 'z' },
    { a: 'w', b: 'y' },
  ];
  const counters = labels.map((l) => new CounterSeries(handled.counter, l));
  const gauges = labels.map((l) => new GaugeSeries(handled.gauge, { a: l.a }));
  const histograms = labels.map((l) => new HistogramSeries(handled.histogram, l, BUCKETS));
  // After its first update a handle no longer goes through prom-client's API.
  let publicCalls = 0;
  for (const m of [handled.counter, handled.gauge, handled.histogram] as const) {
    const o = m as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of ['inc', 'set', 'observe']) {
      const f = o[name];
      if (typeof f !== 'function') continue;
      o[name] = (...args: unknown[]) => {
        publicCalls++;
        return f.apply(m, args);
      };
    }
  }
  const values = [0, 0.05, 0.1, 0.7, 1, 2.5, 3, 10, 11, 1e6, 0.1];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < labels.length; i++) {
      for (const v of values) {
        counters[i].inc(v);
        plain.counter.inc(labels[i], v);
        gauges[i].set(v * (round + 1));
        plain.gauge.set({ a: labels[i].a }, v * (round + 1));
        histograms[i].observe(v);
        plain.histogram.observe(labels[i], v);
      }
    }
    if (round === 1) {
      // A reset (e.g. registry.resetMetrics()) gives the metrics new storage; handles follow it.
      registry.resetMetrics();
      publicCalls = 0;
    }
  }
  assert.equal(await text(registry, 'handled'), await text(registry, 'plain'));
  assert.match(await text(registry, 'handled'), /t_h_bucket\{le="2.5",a="x",b="y"\} 7/);
  // One public call per handle after the reset (its first update), none after.
  assert.equal(publicCalls, 9);
});

test('values prom-client refuses are still refused', () => {
  const registry = new Registry();
  const counter = new Counter({ name: 'r_c', help: 'c', labelNames: ['a'], registers: [registry] });
  const histogram = new Histogram({
    name: 'r_h',
    help: 'h',
    labelNames: ['a'],
    buckets: BUCKETS,
    registers: [registry],
  });
  const c = new CounterSeries(counter, { a: 'x' });
  const h = new HistogramSeries(histogram, { a: 'x' }, BUCKETS);
  c.inc(1);
  h.observe(1);
  assert.throws(() => c.inc(-1), /decrease/);
  assert.throws(() => c.inc(Number.POSITIVE_INFINITY), /not a valid number/);
  assert.throws(() => h.observe(Number.NaN), /not a valid number/);
});

test('the path cache finds values by their path and starts afresh at its bound', () => {
  const cache = new PathCache<number>(3);
  cache.add(['a', 'b'], 1);
  cache.add(['a', 'c'], 2);
  cache.add(['d', 'b'], 3);
  assert.equal(cache.get(['a', 'b']), 1);
  assert.equal(cache.get(['a', 'c']), 2);
  assert.equal(cache.get(['d', 'b']), 3);
  assert.equal(cache.get(['d', 'c']), undefined);
  cache.add(['e', 'f'], 4);
  assert.equal(cache.get(['a', 'b']), undefined);
  assert.equal(cache.get(['e', 'f']), 4);
});
