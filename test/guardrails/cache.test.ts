import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ScanCache } from '../../src/guardrails/cache.ts';
import type { Match } from '../../src/guardrails/types.ts';

/** What the cache holds for `text` under `signature`. */
const results = (cache: ScanCache, text: string, signature: string) => {
  const e = cache.lookup(text);
  return e === undefined ? undefined : cache.resultsOf(e, signature);
};
const hit = (rule: string): Match[] => [{ rule, type: 'secret', start: 0, end: 1, fingerprint: 'f' }];

describe('scan cache', () => {
  test('returns results only for exactly the same text', () => {
    const cache = new ScanCache();
    const a = `${'x'.repeat(20)}middle-A${'y'.repeat(20)}`;
    const b = `${'x'.repeat(20)}middle-B${'y'.repeat(20)}`; // same length and edges: same bucket
    cache.store(a, 'sig', hit('a'));
    assert.equal(cache.lookup(b), undefined);
    cache.store(b, 'sig', hit('b'));
    assert.deepEqual(results(cache, a, 'sig'), hit('a'));
    assert.deepEqual(results(cache, b, 'sig'), hit('b'));
    assert.equal(cache.lookup(`${a} `), undefined);
    assert.equal(results(cache, a, 'other-detector'), undefined);
  });

  test('stays within maxEntries and keeps what is being used (second chance)', () => {
    const cache = new ScanCache({ maxEntries: 10 });
    for (let i = 0; i < 10; i++) cache.store(`text ${i}`, 's', []);
    for (let round = 0; round < 5; round++) {
      assert.ok(cache.lookup('text 0'), `text 0 evicted in round ${round}`);
      for (let i = 0; i < 4; i++) cache.store(`new ${round}-${i}`, 's', []);
      assert.ok(cache.stats().entries <= 10);
    }
    assert.equal(cache.lookup('text 1'), undefined, 'untouched old entries go first');
    assert.ok(cache.stats().evictions > 0);
  });

  test('stays within maxBytes, counting the texts it keeps', () => {
    const cache = new ScanCache({ maxBytes: 100_000 });
    for (let i = 0; i < 50; i++) cache.store(`${i}`.padEnd(5000, '.'), 's', hit('r'));
    const { bytes, entries } = cache.stats();
    assert.ok(bytes <= 100_000, `bytes ${bytes}`);
    assert.ok(entries < 50 && entries > 0);
  });

  test('sha256 keying keeps no text', () => {
    const cache = new ScanCache({ keyBy: 'sha256' });
    const secretish = 'deploy with the key in this text';
    const e = cache.store(secretish, 's', hit('r'));
    assert.equal(e.text, undefined);
    assert.ok(typeof e.key === 'string' && !e.key.includes('deploy'));
    assert.deepEqual(results(cache, secretish, 's'), hit('r'));
    assert.equal(cache.lookup('deploy with the key in this text!'), undefined);
  });

  test('counts hits and misses; clear() empties it', () => {
    const cache = new ScanCache();
    cache.lookup('a');
    cache.store('a', 's', []);
    cache.lookup('a');
    assert.deepEqual([cache.stats().hits, cache.stats().misses], [1, 1]);
    cache.clear();
    assert.equal(cache.lookup('a'), undefined);
    assert.equal(cache.stats().entries, 0);
  });
});
