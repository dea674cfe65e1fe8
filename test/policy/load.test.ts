import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text as streamText } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import { getHeapSnapshot } from 'node:v8';
import { LineCounter, parseAllDocuments } from 'yaml';
import { checkPolicy } from '../../src/policy/build-snapshot.ts';
import {
  type LoadedDocument,
  listPolicyFiles,
  loadPolicyDocuments,
  positionOf,
} from '../../src/policy/load.ts';
import { formatProblem } from '../../src/policy/problems.ts';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';
import { EXAMPLE_POLICY_DIR } from '../fixtures/keys.ts';
import { lineOf, policyCopy } from './helpers.ts';

/** What `yaml` alone makes of a file: each document's value and the line:column of its first node. */
function reference(text: string) {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  return (Array.isArray(docs) ? docs : []).map((d) => {
    const offset = d.contents?.range?.[0] ?? 0;
    const pos = lines.linePos(offset);
    return { value: d.toJS({ maxAliasCount: 100 }), offset, line: pos.line, column: pos.col };
  });
}

function loaded(doc: LoadedDocument) {
  const pos = positionOf(doc, doc.offset);
  return { value: doc.value, offset: doc.offset, line: pos.line, column: pos.column };
}

/** Whether the document was read by the fast reader (its `yaml` nodes are parsed on first use). */
const readFast = (doc: LoadedDocument) =>
  typeof Object.getOwnPropertyDescriptor(doc, 'yaml')?.get === 'function';

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-load-test-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const KEY = (name: string, extra = '') => `apiVersion: portcullis.dev/v1
kind: VirtualKey
metadata:
  name: ${name}
spec:
  owner: ${name}@acme.example
  team: app-dev
  keyHash: sha256:${createHash('sha256').update(name).digest('hex')}
  models: [gpt-5-mini, claude-haiku-4-5*]
  budgets:
    - { amountUsd: 100, period: monthly }
${extra}`;

describe('loading policy YAML', () => {
  test('every YAML file of the repository reads as yaml reads it, values and positions alike', () => {
    const dirs = [EXAMPLE_POLICY_DIR, join(REPO_ROOT, 'examples'), join(REPO_ROOT, 'test', 'fixtures')];
    let files = 0;
    for (const dir of dirs) {
      const { documents } = loadPolicyDocuments(dir);
      for (const path of listPolicyFiles(dir)) {
        const file = path.slice(dir.length + 1);
        const expected = reference(readFileSync(path, 'utf8')).filter(
          (d) => d.value !== null && typeof d.value === 'object' && !Array.isArray(d.value),
        );
        assert.deepEqual(documents.filter((d) => d.file === file).map(loaded), expected, file);
        files++;
      }
    }
    assert.ok(files >= 10, `only ${files} files compared`);
    assert.ok(
      loadPolicyDocuments(EXAMPLE_POLICY_DIR).documents.every(readFast),
      'the example policy is read fast',
    );
  });

  test('scalars, keys and layouts resolve as in YAML 1.2, whichever reader takes the file', () => {
    const tricky = [
      'apiVersion: portcullis.dev/v1',
      'kind: Odd',
      'metadata: {name: "odd", labels: {a: b}}',
      'spec:',
      '  strings: [yes, no, on, off, y, n, 1_000, 0b11, 2024-01-01, "12", \'x\', +.5x]',
      '  numbers: [012, 0o17, 0x1F, -7, +3, .5, 1e3, -1.5E-2, .inf, -.Inf, .NaN]',
      '  others: [~, null, Null, true, False, TRUE, ""]',
      '  folded: >',
      '    one',
      '    two',
      '',
      '  literal: |-',
      '    a: not a key',
      '    # not a comment',
      '  quoted: "line one',
      '    line two"',
      '  1: number key',
      '  true: bool key',
      '  __proto__: own property',
      '  empty:',
      '  # a comment with --- in it',
      '---',
      '# leading comment',
      '',
      '   indented: mapping',
      '   second: 2',
    ].join('\n');
    const variants = {
      'plain.yaml': tricky,
      'crlf.yaml': tricky.replace(/\n/g, '\r\n'),
      'alias.yaml': `third: &a [1]\nfourth: *a\n${tricky}`,
      'tagged.yaml': `--- !!map\n${tricky}`,
      'null-key.yaml': `~: x\n${tricky}`,
      'yaml-1.1.yaml': `%YAML 1.1\n---\nold: [yes, 010, on]\n${tricky}`,
    };
    const dir = dirWith(variants);
    const { documents, problems } = loadPolicyDocuments(dir);
    assert.deepEqual(problems, []);
    for (const [file, text] of Object.entries(variants)) {
      const got = documents.filter((d) => d.file === file);
      assert.deepEqual(got.map(loaded), reference(text), file);
      assert.equal(Object.hasOwn(got[0].value.spec as object, '__proto__'), true, file);
    }
    assert.deepEqual(
      Object.entries(variants)
        .filter(([file]) => readFast(documents.find((d) => d.file === file)!))
        .map(([file]) => file)
        .sort(),
      ['crlf.yaml', 'plain.yaml'],
      'files with directives, aliases, tags or null keys go to the exact reader',
    );
  });

  test('a problem deep in a large file is reported at its line and column', () => {
    const dir = policyCopy();
    const docs = Array.from({ length: 3000 }, (_, i) =>
      KEY(`gen-${i}`, i === 2345 ? '  rateLimits: { requestsPerMinute: many }\n' : ''),
    );
    docs[2900] = docs[2900].replace('team: app-dev', 'team: nowhere');
    docs[2950] = docs[2950].replace('models: [', 'modles: [');
    writeFileSync(join(dir, 'keys', 'generated.yaml'), docs.join('---\n'));
    const schema = checkPolicy(dir).problems.map(formatProblem);
    const line = lineOf(dir, 'keys/generated.yaml', 'requestsPerMinute: many');
    const typo = lineOf(dir, 'keys/generated.yaml', 'modles:');
    const spec = lineOf(dir, 'keys/generated.yaml', 'owner: gen-2950@');
    assert.deepEqual(schema, [
      `keys/generated.yaml:${line}:36: spec.rateLimits.requestsPerMinute: must be a integer`,
      `keys/generated.yaml:${spec}:3: spec: missing required field 'models'`,
      `keys/generated.yaml:${typo}:3: spec.modles: unknown field 'modles'`,
    ]);
    writeFileSync(
      join(dir, 'keys', 'generated.yaml'),
      docs
        .join('---\n')
        .replace('requestsPerMinute: many', 'requestsPerMinute: 5')
        .replace('modles:', 'models:'),
    );
    const team = lineOf(dir, 'keys/generated.yaml', 'team: nowhere');
    assert.deepEqual(checkPolicy(dir).problems.map(formatProblem), [
      `keys/generated.yaml:${team}:9: spec.team: refers to Team 'nowhere', which is not defined`,
    ]);
  });

  test('a duplicate in a large file names the first definition by line', () => {
    const dir = policyCopy();
    const docs = Array.from({ length: 2000 }, (_, i) => KEY(`gen-${i}`));
    docs[1999] = docs[1999].replace('name: gen-1999', 'name: gen-1234');
    writeFileSync(join(dir, 'keys', 'generated.yaml'), docs.join('---\n'));
    const text = readFileSync(join(dir, 'keys', 'generated.yaml'), 'utf8').split('\n');
    const first =
      text.indexOf(
        'apiVersion: portcullis.dev/v1',
        lineOf(dir, 'keys/generated.yaml', 'name: gen-1234') - 5,
      ) + 1;
    const second = text.lastIndexOf('  name: gen-1234') + 1;
    assert.deepEqual(checkPolicy(dir).problems.map(formatProblem), [
      `keys/generated.yaml:${second}:9: metadata.name: duplicate VirtualKey 'gen-1234' (first defined at keys/generated.yaml:${first})`,
    ]);
  });

  test('invalid YAML and duplicate keys in a large file are located as before', () => {
    const dir = policyCopy();
    const docs = Array.from({ length: 1500 }, (_, i) => KEY(`gen-${i}`));
    docs[1400] = docs[1400].replace('  team: app-dev', '  team: app-dev\n  team: platform');
    docs[1450] = docs[1450].replace('claude-haiku-4-5*]', 'claude-haiku-4-5*');
    writeFileSync(join(dir, 'keys', 'generated.yaml'), docs.join('---\n'));
    const problems = checkPolicy(dir).problems;
    const dup = lineOf(dir, 'keys/generated.yaml', 'team: platform');
    const from = lineOf(dir, 'keys/generated.yaml', 'name: gen-1450');
    const to = lineOf(dir, 'keys/generated.yaml', 'name: gen-1451');
    assert.ok(problems.length >= 2, problems.map(formatProblem).join('\n'));
    assert.equal(
      formatProblem(problems[0]),
      `keys/generated.yaml:${dup}:3: invalid YAML: Map keys must be unique`,
    );
    assert.ok(
      problems.slice(1).every((p) => p.line > from && p.line < to && p.message.startsWith('invalid YAML')),
      problems.map(formatProblem).join('\n'),
    );
  });

  test('the values read keep no hold on the text of their file', async () => {
    // A snapshot keeps a key's strings (id, owner, hash, model globs) for as long as it serves; a
    // string kept as a slice of the file would keep the whole file alive (3 MB for 10,000 keys).
    const dir = policyCopy();
    const heldKeys = (n: number) => {
      const docs = Array.from({ length: n }, (_, i) => KEY(`held-${i}`));
      writeFileSync(join(dir, 'keys', 'generated.yaml'), docs.join('---\n'));
    };
    heldKeys(2000);
    const size = statSync(join(dir, 'keys', 'generated.yaml')).size;
    const kept = loadPolicyDocuments(dir)
      .documents.filter((d) => d.file === join('keys', 'generated.yaml'))
      .map((d) => d.value.spec as Record<string, unknown>);
    assert.equal(kept.length, 2000);
    const heap = JSON.parse(await streamText(getHeapSnapshot())) as {
      snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
      nodes: number[];
      strings: string[];
    };
    const fields = heap.snapshot.meta.node_fields;
    const [type, name, selfSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
    const stringType = heap.snapshot.meta.node_types[0].indexOf('string');
    const start = 'apiVersion: portcullis.dev/v1\nkind: VirtualKey\nmetadata:\n  name: held-0\n';
    const fileTexts = [];
    for (let i = 0; i < heap.nodes.length; i += fields.length) {
      if (heap.nodes[i + type] !== stringType || heap.nodes[i + selfSize] < size) continue;
      if (heap.strings[heap.nodes[i + name]].startsWith(start)) fileTexts.push(heap.nodes[i + selfSize]);
    }
    assert.deepEqual(fileTexts, []);
    assert.match(String(kept[1999].keyHash), /^sha256:[0-9a-f]{64}$/);
  });
});
