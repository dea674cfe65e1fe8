// A value that fits a schema: JSON Schema or Gemini's OpenAPI-style Schema (upper-case type names,
// `nullable`). Plain and predictable rather than clever: every declared property, the first enum value,
// the first anyOf/oneOf branch, one array item (or minItems), strings of a few words.

type Schema = Record<string, unknown>;

/** Past this depth only what the schema requires is generated, so recursive schemas bottom out. */
const SOFT_DEPTH = 6;
/** Past this depth the answer is null whatever the schema says. */
const HARD_DEPTH = 24;
/** A schema whose every property is required and recursive would otherwise branch until HARD_DEPTH. */
const MAX_NODES = 2000;
const WORDS_PER_STRING = 3;
const TIME = new Date(1_700_000_000_000).toISOString();

const FORMATS: Record<string, string> = {
  'date-time': TIME,
  date: TIME.slice(0, 10),
  time: `${TIME.slice(11, 19)}Z`,
  email: 'sim@example.com',
  uri: 'https://example.com/sim',
  url: 'https://example.com/sim',
  uuid: '00000000-0000-4000-8000-000000000000',
  hostname: 'example.com',
  ipv4: '127.0.0.1',
  ipv6: '::1',
  duration: 'PT1S',
};

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Gemini's proto int64 fields (minItems, minLength…) arrive as JSON strings. */
function num(v: unknown): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

function resolvePointer(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    if (!isObject(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** The branch most likely to end the recursion: null, then any non-object, non-array, non-$ref one. */
function terminalIndex(branches: unknown[]): number {
  const types = branches.map((b) => (isObject(b) && typeof b.type === 'string' ? b.type.toLowerCase() : ''));
  const nul = types.indexOf('null');
  if (nul !== -1) return nul;
  const scalar = branches.findIndex(
    (b, i) =>
      isObject(b) && b.$ref === undefined && types[i] !== '' && !['object', 'array'].includes(types[i]),
  );
  return scalar === -1 ? 0 : scalar;
}

function typeOf(s: Schema, deep: boolean): string {
  const t = s.type;
  if (Array.isArray(t)) {
    const names = t.filter((x): x is string => typeof x === 'string').map((x) => x.toLowerCase());
    const real = names.filter((x) => x !== 'null');
    if (real.length === 0 || (deep && real.length < names.length)) return 'null';
    return real[0];
  }
  if (deep && s.nullable === true) return 'null';
  const name = typeof t === 'string' ? t.toLowerCase() : '';
  if (['object', 'array', 'string', 'integer', 'number', 'boolean', 'null'].includes(name)) return name;
  if (isObject(s.properties)) return 'object';
  if (s.items !== undefined || Array.isArray(s.prefixItems)) return 'array';
  return 'string';
}

/** allOf's branches folded into one schema: properties and required united, other keywords first wins. */
function mergeAll(s: Schema, branches: unknown[], resolve: (v: unknown) => unknown): Schema {
  const out: Schema = {};
  const props: Schema = {};
  const required: unknown[] = [];
  for (const b of [s, ...branches.map(resolve)]) {
    if (!isObject(b)) continue;
    for (const [k, v] of Object.entries(b)) {
      if (k === 'allOf') continue;
      if (k === 'properties' && isObject(v)) Object.assign(props, v);
      else if (k === 'required' && Array.isArray(v)) required.push(...v);
      else if (!Object.hasOwn(out, k)) out[k] = v;
    }
  }
  if (Object.keys(props).length > 0) out.properties = props;
  if (required.length > 0) out.required = [...new Set(required)];
  return out;
}

function numberOf(s: Schema, integer: boolean): number {
  const min = num(s.minimum);
  const max = num(s.maximum);
  // Draft 4 spells an open bound as a boolean beside minimum/maximum; later drafts as a number.
  const exMin = num(s.exclusiveMinimum) ?? (s.exclusiveMinimum === true ? min : undefined);
  const exMax = num(s.exclusiveMaximum) ?? (s.exclusiveMaximum === true ? max : undefined);
  const above = (v: number) => (min === undefined || v >= min) && (exMin === undefined || v > exMin);
  const below = (v: number) => (max === undefined || v <= max) && (exMax === undefined || v < exMax);
  const lo = Math.max(min ?? -Infinity, exMin ?? -Infinity);
  const hi = Math.min(max ?? Infinity, exMax ?? Infinity);
  let v = 1;
  if (!above(v) || !below(v)) {
    if (Number.isFinite(lo) && Number.isFinite(hi)) v = (lo + hi) / 2;
    else v = Number.isFinite(lo) ? lo + 1 : hi - 1;
  }
  if (integer) v = above(Math.floor(v)) ? Math.floor(v) : Math.ceil(v);
  const m = num(s.multipleOf);
  if (m !== undefined && m > 0) {
    const up = Math.ceil(v / m) * m;
    v = below(up) ? up : Math.floor(v / m) * m;
  }
  return v;
}

function stringOf(s: Schema, words: (count: number) => string[]): string {
  const format = typeof s.format === 'string' ? FORMATS[s.format.toLowerCase()] : undefined;
  let text = format ?? words(WORDS_PER_STRING).join(' ');
  const min = num(s.minLength) ?? 0;
  while (text.length < min) text += ` ${words(WORDS_PER_STRING).join(' ')}`;
  const max = num(s.maxLength);
  if (max !== undefined && text.length > max) text = text.slice(0, max);
  return text;
}

/**
 * An instance of `schema`. `words(n)` supplies the words strings are made of (a deterministic stream
 * in the simulator). A missing or empty schema, or an unknown type, gives a string.
 */
export function instanceOf(schema: unknown, words: (count: number) => string[]): unknown {
  const resolve = (v: unknown): unknown =>
    isObject(v) && typeof v.$ref === 'string' ? resolvePointer(schema, v.$ref) : v;

  let budget = MAX_NODES;
  const gen = (node: unknown, depth: number): unknown => {
    if (--budget < 0 || depth > HARD_DEPTH || node === false) return null;
    if (!isObject(node)) return stringOf({}, words);
    if (typeof node.$ref === 'string') {
      const target = resolvePointer(schema, node.$ref);
      return target === undefined ? stringOf({}, words) : gen(target, depth + 1);
    }
    const deep = depth >= SOFT_DEPTH;
    if ('const' in node) return node.const;
    if (Array.isArray(node.enum) && node.enum.length > 0) return node.enum[0];
    if (Array.isArray(node.allOf) && node.allOf.length > 0)
      return gen(mergeAll(node, node.allOf, resolve), depth);
    const branches = Array.isArray(node.anyOf) && node.anyOf.length > 0 ? node.anyOf : node.oneOf;
    if (Array.isArray(branches) && branches.length > 0) {
      return gen(branches[deep ? terminalIndex(branches.map(resolve)) : 0], depth + 1);
    }
    switch (typeOf(node, deep)) {
      case 'null':
        return null;
      case 'boolean':
        return true;
      case 'integer':
        return numberOf(node, true);
      case 'number':
        return numberOf(node, false);
      case 'object': {
        const props = isObject(node.properties) ? node.properties : {};
        const required = Array.isArray(node.required)
          ? node.required.filter((k): k is string => typeof k === 'string')
          : [];
        // Gemini's propertyOrdering is the order the model writes the properties in.
        const order = Array.isArray(node.propertyOrdering)
          ? node.propertyOrdering.filter((k): k is string => typeof k === 'string' && Object.hasOwn(props, k))
          : [];
        const keys = [...new Set([...order, ...Object.keys(props), ...required])];
        const out: Record<string, unknown> = {};
        for (const k of keys) {
          if (deep && !required.includes(k)) continue;
          const sub = Object.hasOwn(props, k)
            ? props[k]
            : isObject(node.additionalProperties)
              ? node.additionalProperties
              : {};
          out[k] = gen(sub, depth + 1);
        }
        return out;
      }
      case 'array': {
        const prefix = Array.isArray(node.prefixItems)
          ? node.prefixItems
          : Array.isArray(node.items)
            ? node.items
            : [];
        const rest = Array.isArray(node.items) ? node.additionalItems : node.items;
        const min = num(node.minItems) ?? 0;
        const max = num(node.maxItems);
        let count = deep ? min : Math.max(min, 1);
        if (max !== undefined) count = Math.min(count, max);
        const out: unknown[] = [];
        for (let i = 0; i < count; i++) {
          if (i < prefix.length) out.push(gen(prefix[i], depth + 1));
          else if (rest === false) break;
          else out.push(gen(rest ?? {}, depth + 1));
        }
        return out;
      }
      default:
        return stringOf(node, words);
    }
  };
  return gen(schema, 0);
}
