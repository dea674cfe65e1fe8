// Handles on single prom-client series, for metrics updated on every call.
//
// prom-client finds a series on every `inc`/`observe`/`set` by building a string from the label
// object, checking each label name, and looking the string up in an object used as a dictionary
// (a gauge also replaces the series' value object): ~0.5 µs each, and per-call metrics make eight or
// more such updates per call on the same few label sets. A handle does the first update of its label
// set through prom-client's public API, keeps the series' value object prom-client stored, and
// updates that object in place afterwards. What is exposed and aggregated is unchanged: prom-client
// reads the same objects. A handle notices a reset of its metric (`reset()` gives it a new
// `hashMap`) and goes through the public API again; if prom-client ever stores its series
// differently, the handle does not find the value object and keeps using the public API.
// Not for metrics whose series are removed with `remove()` (none of the per-call metrics are).
import type { Counter, Gauge, Histogram } from 'prom-client';

type Labels = Record<string, string>;
interface ValueEntry {
  labels: Labels;
  value: number;
}
interface HistogramEntry {
  labels: Labels;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}
/** prom-client's storage of a metric's series (version 15), read only by the handles below. */
interface Stored<E> {
  hashMap: Record<string, E | undefined>;
  sortedLabelNames: readonly string[];
}

/** prom-client's key of a label set: `name:value,` for each label name in sorted order. */
function seriesKey(sortedNames: readonly string[], labels: Labels): string {
  let key = '';
  for (const name of sortedNames) {
    const value = labels[name];
    if (value !== undefined) key += `${name}:${value},`;
  }
  return key;
}

function sameLabels(a: Labels, b: Labels): boolean {
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  for (const name of names) if (String(a[name]) !== String(b[name])) return false;
  return true;
}

abstract class Series<E extends { labels: Labels }> {
  protected readonly labels: Labels;
  private readonly stored: Stored<E>;
  private readonly key: string;
  private map: Record<string, E | undefined> | undefined;
  private entry: E | undefined;

  constructor(metric: object, labels: Labels) {
    this.labels = labels;
    this.stored = metric as Stored<E>;
    this.key = seriesKey(this.stored.sortedLabelNames ?? [], labels);
  }

  /** The value object to update in place, or undefined when the public API must be used. */
  protected current(): E | undefined {
    return this.stored.hashMap === this.map ? this.entry : undefined;
  }

  /** After an update through the public API: finds the value object prom-client keeps for the labels. */
  protected found(): void {
    const map = this.stored.hashMap;
    const entry = map?.[this.key];
    this.map = map;
    this.entry = entry !== undefined && sameLabels(entry.labels, this.labels) ? entry : undefined;
  }
}

export class CounterSeries extends Series<ValueEntry> {
  private readonly metric: Counter<string>;

  constructor(metric: Counter<string>, labels: Labels) {
    super(metric, labels);
    this.metric = metric;
  }

  inc(value: number): void {
    const entry = this.current();
    // Values prom-client would refuse go through it, so they are refused as before.
    if (entry !== undefined && value >= 0 && value < Infinity) {
      entry.value += value;
      return;
    }
    this.metric.inc(this.labels, value);
    this.found();
  }
}

export class GaugeSeries extends Series<ValueEntry> {
  private readonly metric: Gauge<string>;

  constructor(metric: Gauge<string>, labels: Labels) {
    super(metric, labels);
    this.metric = metric;
  }

  set(value: number): void {
    const entry = this.current();
    if (entry !== undefined && typeof value === 'number') {
      entry.value = value;
      return;
    }
    this.metric.set(this.labels, value);
    this.found();
  }
}

export class HistogramSeries extends Series<HistogramEntry> {
  private readonly metric: Histogram<string>;
  private readonly bounds: readonly number[];
  private readonly boundKeys: readonly string[];

  /** `buckets`: the upper bounds the histogram was made with. */
  constructor(metric: Histogram<string>, labels: Labels, buckets: readonly number[]) {
    super(metric, labels);
    this.metric = metric;
    this.bounds = buckets;
    this.boundKeys = buckets.map(String);
  }

  observe(value: number): void {
    const entry = this.current();
    if (entry === undefined || !Number.isFinite(value)) {
      this.metric.observe(this.labels, value);
      this.found();
      return;
    }
    // As prom-client counts: the first bucket whose upper bound holds the value (none: only +Inf).
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]) {
        entry.bucketValues[this.boundKeys[i]] += 1;
        break;
      }
    }
    entry.sum += value;
    entry.count += 1;
  }
}

/**
 * Values found by a path of label values, as nested maps: a lookup hashes each value (strings keep
 * their hash) instead of building and hashing a joined key on every call. Bounded: when it holds `max`
 * values it starts afresh, so label sets seen once cannot pile up.
 */
export class PathCache<V> {
  private root = new Map<string, unknown>();
  private size = 0;
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get(path: readonly string[]): V | undefined {
    let node: Map<string, unknown> | undefined = this.root;
    const last = path.length - 1;
    for (let i = 0; i < last && node !== undefined; i++)
      node = node.get(path[i]) as Map<string, unknown> | undefined;
    return node?.get(path[last]) as V | undefined;
  }

  add(path: readonly string[], value: V): V {
    if (this.size >= this.max) {
      this.root = new Map();
      this.size = 0;
    }
    let node = this.root;
    const last = path.length - 1;
    for (let i = 0; i < last; i++) {
      let next = node.get(path[i]) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(path[i], next);
      }
      node = next;
    }
    if (!node.has(path[last])) this.size++;
    node.set(path[last], value);
    return value;
  }
}
