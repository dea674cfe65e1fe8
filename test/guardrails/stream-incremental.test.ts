// The stream scanner reads only what arrived since its last push (the keyword automaton resumes where
// it stopped); these tests hold it to the answers of a full rescan of the carry-over window.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { compileChain, createResponseScanner, type ScanFinding } from '../../src/guardrails/index.ts';
import { KeywordIndex, keywordTail } from '../../src/guardrails/keyword-index.ts';
import { randomFrom } from './fakes.ts';
import { pairs, prng } from './keyword-hits.ts';

describe('incremental keyword scan', () => {
  test('a window that grows at its end and loses its start finds what a full scan finds', () => {
    // Overlapping keywords, so resumed automaton states matter.
    const index = new KeywordIndex(['ab', 'abc', 'bca', 'a', 'cab', 'bb']);
    for (let seed = 1; seed <= 30; seed++) {
      const rand = prng(seed);
      const tail = keywordTail();
      let window = '';
      let base = 0;
      for (let step = 0; step < 200; step++) {
        window += randomText(rand, 1 + Math.floor(rand() * 12), 'abcAB x');
        // Sometimes cut more than was scanned before (the window moved past it all).
        const cut = Math.floor(rand() * (rand() < 0.1 ? window.length : Math.min(window.length, 8)));
        const full = pairs(index.scan(window));
        const incremental = pairs(index.scanTail(window, base, tail));
        assert.deepEqual(incremental, full, `seed ${seed}, step ${step}`);
        window = window.slice(cut);
        base += cut;
      }
    }
  });
});

function randomText(rand: () => number, n: number, alphabet: string): string {
  let out = '';
  for (let i = 0; i < n; i++) out += alphabet[Math.floor(rand() * alphabet.length)];
  return out;
}

describe('incremental stream scanning', () => {
  const chain = compileChain(
    {
      apiVersion: 'portcullis.dev/v1',
      kind: 'GuardrailChain',
      metadata: { name: 'incremental' },
      spec: { steps: [{ detector: 'secrets', action: 'block', stage: 'response' }] },
    },
    { cache: false, fingerprintSalt: 'incremental-test-salt-0123456789' },
  );
  // The same chain with every detector reduced to a plain scan: the carry-over window rescanned whole.
  const rescanning = {
    ...chain,
    steps: chain.steps.map((s) =>
      s.text === undefined
        ? s
        : {
            ...s,
            text: {
              signature: s.text.signature,
              maxMatchLength: s.text.maxMatchLength,
              scan: (t: string) => s.text!.scan(t),
            },
          },
    ),
  };
  const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const filler =
    'const token = process.env.API_TOKEN; // read the key from the environment, never inline\n' +
    'function authorize(secret: string) { return secret.length > 0 && apiKey !== undefined; }\n';

  const run = (c: typeof chain, deltas: string[]) => {
    const s = createResponseScanner(c, 'anthropic.messages');
    const seen: { at: number; f: ScanFinding; pending: number }[] = [];
    deltas.forEach((d, at) => {
      for (const f of s.push('content[0].text', d)) seen.push({ at, f, pending: -1 });
      seen.push({
        at,
        f: { rule: '', type: 'secret', action: 'log' } as ScanFinding,
        pending: s.pendingFrom('content[0].text'),
      });
    });
    const end = s.end() as { findings: ScanFinding[] };
    for (const f of end.findings) seen.push({ at: deltas.length, f, pending: -1 });
    return seen.map(({ at, f, pending }) => `${at}:${f.rule}:${f.start}-${f.end}:${pending}`);
  };

  test('findings, their offsets and the pending marks equal a full rescan, delta by delta', () => {
    let secretsSeen = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const rand = prng(seed);
      let text = '';
      while (text.length < 6000) {
        const r = rand();
        if (r < 0.08) text += ` ghp_${randomFrom(ALNUM, 36)} `;
        else if (r < 0.1) text += `\n${pem}\n`;
        else if (r < 0.15) text += ` AKIA${randomFrom('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)} `;
        else text += filler;
      }
      const deltas: string[] = [];
      for (let i = 0; i < text.length; ) {
        // Mostly token-sized, sometimes larger than the whole carry-over window.
        const n = rand() < 0.05 ? 1500 + Math.floor(rand() * 1000) : 1 + Math.floor(rand() * 20);
        deltas.push(text.slice(i, i + n));
        i += n;
      }
      const expected = run(rescanning, deltas);
      assert.deepEqual(run(chain, deltas), expected, `seed ${seed}`);
      secretsSeen += expected.filter((e) => /:github|:aws|private/i.test(e)).length;
    }
    assert.ok(secretsSeen > 20, `the streams held secrets the scanner found (${secretsSeen})`);
  });
});
