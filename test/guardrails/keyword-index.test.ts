// The keyword automaton reads a long text as several stretches stepped side by side; these tests hold
// that split scan to the one-pass scan (scanTail over a fresh tail still reads in one pass) and to the
// plain fact of where each keyword was put, for every keyword of the built-in secret rules, at every
// position around the places a text is cut, in mixed case.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeywordIndex, keywordTail } from '../../src/guardrails/keyword-index.ts';
import { SECRET_RULES } from '../../src/guardrails/secrets/rules.ts';
import { pairs, prng } from './keyword-hits.ts';

const onePass = (index: KeywordIndex, text: string) => pairs(index.scanTail(text, 0, keywordTail()));

// Characters keywords are made of, so the filler itself starts and breaks off keywords, and a few
// above U+00FF (read by their low byte, as in one pass).
const FILLER = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/=$ ;"\né\u0173\u{1F600}';

function filler(rand: () => number, n: number): string {
  let out = '';
  while (out.length < n) out += [...FILLER][Math.floor(rand() * [...FILLER].length)];
  return out.slice(0, n);
}

function mixedCase(rand: () => number, keyword: string): string {
  let out = '';
  for (const ch of keyword) out += rand() < 0.5 ? ch.toUpperCase() : ch;
  return out;
}

const keywords = [...new Set(SECRET_RULES.flatMap((r) => r.keywords.map((k) => k.toLowerCase())))];
const index = new KeywordIndex(keywords);

/** Keyword `k` put over `base` at `at`, in mixed case: the split scan finds it there, and finds what one pass finds. */
function assertFoundAt(rand: () => number, base: string, k: number, at: number): void {
  const keyword = index.keywords[k];
  const text = base.slice(0, at) + mixedCase(rand, keyword) + base.slice(at + keyword.length);
  const found = pairs(index.scan(text));
  assert.ok(found.includes(`${k}@${at}`), `'${keyword}' at ${at} of ${base.length}`);
  assert.deepEqual(found, onePass(index, text), `'${keyword}' at ${at} of ${base.length}`);
}

describe('split keyword scan', () => {
  test('every rule keyword, at every position of short texts, in mixed case', () => {
    const rand = prng(1);
    for (const length of [128, 131, 263]) {
      for (let k = 0; k < index.keywords.length; k++) {
        const keyword = index.keywords[k];
        if (keyword.length > length) continue;
        const base = filler(rand, length);
        for (let at = 0; at + keyword.length <= length; at++) {
          assertFoundAt(rand, base, k, at);
        }
      }
    }
  });

  test('every rule keyword around every eighth of a longer text', () => {
    const rand = prng(2);
    const length = 1001;
    const base = filler(rand, length);
    for (let k = 0; k < index.keywords.length; k++) {
      const keyword = index.keywords[k];
      for (let j = 1; j < 8; j++) {
        const cut = Math.floor((length * j) / 8);
        for (let at = Math.max(0, cut - keyword.length - 2); at <= cut + 2; at++) {
          assertFoundAt(rand, base, k, at);
        }
      }
    }
  });

  test('texts packed with overlapping keywords find what one pass finds, in its order', () => {
    const rand = prng(3);
    // Keywords that are prefixes and suffixes of each other, so the automaton carries long states
    // across the cuts and one end closes several keywords at once.
    const small = new KeywordIndex(['ab', 'abc', 'bca', 'a', 'cab', 'bb', 'abcabcabcab', 'cabcabcabcabcabc']);
    for (let round = 0; round < 300; round++) {
      const length = 120 + Math.floor(rand() * 900);
      let text = '';
      while (text.length < length) text += 'abcABC x'[Math.floor(rand() * (round % 2 === 0 ? 3 : 8))];
      assert.deepEqual(pairs(small.scan(text)), onePass(small, text), `round ${round}`);
    }
    for (let round = 0; round < 100; round++) {
      let text = '';
      while (text.length < 2000) {
        text += mixedCase(rand, keywords[Math.floor(rand() * keywords.length)]);
        if (rand() < 0.3) text += filler(rand, 1);
      }
      assert.deepEqual(pairs(index.scan(text)), onePass(index, text), `round ${round}`);
    }
  });

  test('a text longer than the kept byte copy is scanned whole', () => {
    const text = `${'x'.repeat(1_500_000)}ghp_${'y'.repeat(100)}AKIA`;
    const found = pairs(index.scan(text));
    assert.ok(found.includes(`${index.keywords.indexOf('ghp_')}@1500000`));
    assert.ok(found.includes(`${index.keywords.indexOf('akia')}@1500104`));
    assert.deepEqual(found, onePass(index, text));
  });
});
