// JSON Schema validation of each policy document, with errors located in the YAML source.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { isMap, isPair, isScalar, type Node } from 'yaml';
import { REPO_ROOT } from '../toolchain/tools.ts';
import { type LoadedDocument, positionOf } from './load.ts';
import type { PolicyProblem } from './problems.ts';

export const API_VERSION = 'portcullis.dev/v1';

// ajv-formats is CommonJS with a default export; under NodeNext its type is the module namespace.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

let validators: Map<string, ValidateFunction> | undefined;

/** One compiled validator per kind, keyed by the schema's title (`VirtualKey`, `Team`, …). */
export function schemaValidators(): Map<string, ValidateFunction> {
  if (validators) return validators;
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  addFormats(ajv);
  validators = new Map();
  const dir = join(REPO_ROOT, 'schemas');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.schema.json'))) {
    const schema = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    validators.set(schema.title, ajv.compile(schema));
  }
  return validators;
}

export function knownKinds(): string[] {
  return [...schemaValidators().keys()].sort();
}

function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function dotted(path: (string | number)[]): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${p}` : String(p)),
    '',
  );
}

/** The source offset of a field: its key when `wantKey`, else its value; falls back to the nearest parent. */
export function offsetOf(doc: LoadedDocument, path: (string | number)[], wantKey = false): number {
  let node: unknown = doc.yaml.contents;
  let offset = doc.offset;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    let next: unknown;
    let keyNode: Node | undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === seg);
      if (pair && isPair(pair)) {
        next = pair.value;
        keyNode = pair.key as Node;
      }
    } else if (node && typeof node === 'object' && 'items' in node && typeof seg === 'number') {
      next = (node as { items: unknown[] }).items[seg];
    }
    if (next === undefined && keyNode === undefined) break;
    const last = i === path.length - 1;
    const target = (last && wantKey ? keyNode : next) as Node | undefined;
    const range = target?.range ?? keyNode?.range;
    if (range) offset = range[0];
    node = next;
  }
  return offset;
}

function describe(err: ErrorObject): { path: (string | number)[]; message: string; atKey: boolean } {
  const path = pointerToPath(err.instancePath);
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required':
      return { path, message: `missing required field '${p.missingProperty}'`, atKey: false };
    case 'additionalProperties':
      return {
        path: [...path, String(p.additionalProperty)],
        message: `unknown field '${p.additionalProperty}'`,
        atKey: true,
      };
    case 'enum':
      return { path, message: `must be one of: ${(p.allowedValues as unknown[]).join(', ')}`, atKey: false };
    case 'const':
      return { path, message: `must be ${JSON.stringify(p.allowedValue)}`, atKey: false };
    case 'pattern':
      return { path, message: `does not match the expected form ${p.pattern}`, atKey: false };
    case 'type':
      return { path, message: `must be ${p.type === 'object' ? 'a mapping' : `a ${p.type}`}`, atKey: false };
    case 'minProperties':
    case 'maxProperties':
      return { path, message: `${err.message} (name exactly one source, e.g. fromEnv)`, atKey: false };
    default:
      return { path, message: err.message ?? err.keyword, atKey: false };
  }
}

export function validateDocument(doc: LoadedDocument): PolicyProblem[] {
  const { file } = doc;
  const at = (path: (string | number)[], message: string, atKey = false): PolicyProblem => ({
    file,
    ...positionOf(doc, offsetOf(doc, path, atKey)),
    field: path.length ? dotted(path) : undefined,
    message,
  });
  const { apiVersion, kind } = doc.value;
  if (apiVersion !== API_VERSION) {
    return [at(['apiVersion'], `must be '${API_VERSION}' (found ${JSON.stringify(apiVersion ?? null)})`)];
  }
  const validate = typeof kind === 'string' ? schemaValidators().get(kind) : undefined;
  if (!validate) {
    return [
      at(
        ['kind'],
        `unknown kind ${JSON.stringify(kind ?? null)}; expected one of ${knownKinds().join(', ')}`,
      ),
    ];
  }
  if (validate(doc.value)) return [];
  const seen = new Set<string>();
  const problems: PolicyProblem[] = [];
  for (const err of validate.errors ?? []) {
    // `if`/`then` wrappers repeat the inner error; keep the useful one.
    if (err.keyword === 'if') continue;
    const d = describe(err);
    const key = `${dotted(d.path)}|${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(at(d.path, d.message, d.atKey));
  }
  return problems;
}
