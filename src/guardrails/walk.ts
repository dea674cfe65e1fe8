// The request walker: every string in a body is text the provider receives, so every string is
// visited — on every surface, in every block type, including ones an API adds tomorrow — except the
// fields a per-format skip list (skip-lists.ts) names, each with the reason it cannot reach the model
// as text. The walker hands out the object holding each string and its property, so the same walk
// serves scanning (read it) and redaction (write it).
//
// The walk runs over the whole history on every call, and most texts are cache hits with no finding,
// whose path nobody reads: paths are kept as small linked nodes and rendered to a string on first read.

export type Obj = Record<string | number, unknown>;

/** How the string at a slot encodes the text the model reads. */
export type Decode = 'base64' | 'data-url';

export interface Slot {
  /** Path of the text in the body. */
  readonly path: string;
  holder: Record<string | number, unknown>;
  prop: string | number;
  /** The object key the text sits under, for key-aware checks (`{"password": "…"}`). */
  key?: string;
  /** The text is a JSON document encoded as a string (OpenAI tool-call arguments). */
  json?: boolean;
  /** The string carries the text encoded (a text/* data URL, base64 text media); see slotText. */
  decode?: Decode;
}

export type Visit = (slot: Slot) => void;

/** Where a walk puts the texts it finds: a function called with each, or an array they are pushed to. */
export type Sink = Visit | Slot[];

function emit(sink: Sink, slot: Slot): void {
  if (typeof sink === 'function') sink(slot);
  else sink.push(slot);
}

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null;

/** `a.b`, or `a["b-c"]` when the key is not an identifier. */
export function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

/**
 * A path not yet rendered: `up` followed by `seg`, which is an index (`[3]`), an object key
 * (`.name` or `["a-b"]`, when `key`), or else literal text appended as is (`.content`).
 */
interface PathNode {
  readonly up: PathRef;
  readonly seg: string | number;
  readonly key: boolean;
}

/** A rendered path, or one to render on demand. */
export type PathRef = string | PathNode;

export const at = (up: PathRef, seg: string | number, key = false): PathNode => ({ up, seg, key });

function render(p: PathRef): string {
  if (typeof p === 'string') return p;
  const up = render(p.up);
  return typeof p.seg === 'number' || p.key ? childPath(up, p.seg) : up + p.seg;
}

export class TextSlot implements Slot {
  readonly holder: Obj;
  readonly prop: string | number;
  readonly key: string | undefined;
  readonly json: boolean | undefined;
  readonly decode: Decode | undefined;
  #at: PathRef;
  /** When set, the path is `#at` followed by the key or index `prop` (built on first read). */
  #child: boolean;

  constructor(
    holder: Obj,
    prop: string | number,
    at: PathRef,
    key: string | undefined,
    json: boolean | undefined,
    decode?: Decode,
    child = false,
  ) {
    this.holder = holder;
    this.prop = prop;
    this.key = key;
    this.json = json;
    this.decode = decode;
    this.#at = at;
    this.#child = child;
  }

  get path(): string {
    let p = this.#at;
    if (this.#child) {
      p = typeof p === 'string' && p === '' ? String(this.prop) : at(p, this.prop, true);
      this.#child = false;
    }
    if (typeof p === 'string') {
      this.#at = p;
      return p;
    }
    const s = render(p);
    this.#at = s;
    return s;
  }
}

// ---- Encoded text -------------------------------------------------------------------------------

const DATA_URL = /^data:([^,;]{0,100})((?:;[^,;]{0,100}){0,8}),/i;

/** Whether a MIME type names text a model reads (text/*, JSON, XML, YAML, JavaScript, CSV, …). */
export function textMime(mime: string): boolean {
  const m = mime.trim().toLowerCase();
  return (
    m.startsWith('text/') ||
    /^application\/(?:[\w.+-]*\+)?(?:json|xml|yaml|x-yaml|javascript|ecmascript|x-sh|x-python|sql|graphql|toml|x-www-form-urlencoded|csv)(?:$|;)/.test(
      m,
    )
  );
}

/** For a `data:` URL: its MIME type and whether its payload is base64; undefined for anything else. */
export function dataUrl(v: string): { mime: string; base64: boolean; start: number } | undefined {
  if (v.length < 6 || v.charCodeAt(0) !== 100 /* d */ || !/^data:/i.test(v)) return undefined;
  const m = DATA_URL.exec(v);
  if (!m) return undefined;
  return {
    mime: m[1] || 'text/plain',
    base64: /;base64$/i.test(m[2]) || /;base64;/i.test(m[2]),
    start: m[0].length,
  };
}

/** The text a slot carries: the string itself, or what its encoding holds. */
export function slotText(slot: Slot): string {
  const v = slot.holder[slot.prop] as string;
  if (slot.decode === undefined) return v;
  return decodeText(v, slot.decode);
}

export function decodeText(v: string, decode: Decode): string {
  if (decode === 'base64') return Buffer.from(v, 'base64').toString('utf8');
  const d = dataUrl(v);
  if (!d) return v;
  const payload = v.slice(d.start);
  if (d.base64) return Buffer.from(payload, 'base64').toString('utf8');
  try {
    return decodeURIComponent(payload);
  } catch {
    return payload;
  }
}

/** The string to store back when a decoded text was edited (redaction). */
export function encodeText(original: string, text: string, decode: Decode): string {
  if (decode === 'base64') return Buffer.from(text, 'utf8').toString('base64');
  const d = dataUrl(original);
  if (!d) return text;
  const head = original.slice(0, d.start);
  return head + (d.base64 ? Buffer.from(text, 'utf8').toString('base64') : encodeURIComponent(text));
}

// ---- Skip lists ---------------------------------------------------------------------------------

/** Why a field's value is not text the model reads, or may not be changed. */
export interface SkipRule {
  /** The object key. */
  key: string;
  /** Said in docs and tests: why skipping it cannot hide text from the policy. */
  reason: string;
  /** Only directly in the body (`model`), not in nested objects. */
  topLevel?: boolean;
  /** Only when the object holding the field looks like this (a thinking block, binary media). */
  when?: (holder: Obj) => boolean;
  /**
   * An enum-valued field: skipped only while the value looks like an enum member (a short identifier
   * such as `tool_use`, `image/png`, `web_search_20250305`); anything else in it is scanned.
   */
  enumOnly?: boolean;
}

export interface SkipList {
  readonly format: string;
  readonly rules: readonly SkipRule[];
}

interface CompiledSkips {
  byKey: Map<string, SkipRule[]>;
}

const compiledSkips = new WeakMap<SkipList, CompiledSkips>();

function compileSkips(list: SkipList): CompiledSkips {
  let c = compiledSkips.get(list);
  if (!c) {
    const byKey = new Map<string, SkipRule[]>();
    for (const r of list.rules) {
      const l = byKey.get(r.key) ?? [];
      l.push(r);
      byKey.set(r.key, l);
    }
    c = { byKey };
    compiledSkips.set(list, c);
  }
  return c;
}

/**
 * Whether `v` looks like an enum member or an identifier: 1–128 characters of letters, digits and
 * `-._:/@+`, where every run between separators is letters only (≤ 32), digits only (≤ 14, dates and
 * versions) or mixed but short (≤ 10). Random credentials have long mixed runs, so they never pass.
 */
export function enumShaped(v: string): boolean {
  const n = v.length;
  if (n === 0 || n > 128) return false;
  let len = 0;
  let letters = false;
  let digits = false;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? v.charCodeAt(i) : 45;
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) {
      letters = true;
      len++;
    } else if (c >= 48 && c <= 57) {
      digits = true;
      len++;
    } else if (c === 45 || c === 46 || c === 95 || c === 58 || c === 47 || c === 64 || c === 43) {
      if (letters && digits ? len > 10 : letters ? len > 32 : len > 14) return false;
      len = 0;
      letters = false;
      digits = false;
    } else return false;
  }
  return true;
}

function skipped(rules: SkipRule[] | undefined, holder: Obj, value: unknown, depth: number): boolean {
  if (rules === undefined) return false;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    if (r.topLevel && depth !== 1) continue;
    if (r.when !== undefined && !r.when(holder)) continue;
    if (r.enumOnly) {
      if (typeof value === 'string' ? enumShaped(value) : Array.isArray(value) && value.every(isEnumString))
        return true;
      continue;
    }
    return true;
  }
  return false;
}

const isEnumString = (v: unknown) => typeof v === 'string' && enumShaped(v);

// ---- The walk -----------------------------------------------------------------------------------

/** Deeper than this the walk stops descending and scans the rest as one JSON text (never skips it). */
const MAX_DEPTH = 200;

/** Keys whose string value is a JSON document (function-call arguments): scanned value by value. */
const JSON_KEYS = new Set(['arguments']);

/**
 * Visits every string of `body` except the fields `skips` names. Strings that are `data:` URLs of
 * binary media are skipped (an image is not text); text data URLs and base64 text media are visited
 * with their decoding, so a scanner reads the text the model reads.
 */
export function walkBody(body: unknown, skips: SkipList, visit: Sink): void {
  if (!isObj(body)) return;
  walkObj(visit, compileSkips(skips), body, '', 0);
}

function walkObj(visit: Sink, c: CompiledSkips, o: Obj, path: PathRef, depth: number): void {
  if (Array.isArray(o)) {
    walkArray(visit, c, o, path, undefined, depth + 1);
    return;
  }
  const byKey = c.byKey;
  const d = depth + 1;
  for (const k in o) {
    const v = o[k];
    if (typeof v === 'string') {
      if (v.length === 0) continue;
      const rules = byKey.get(k);
      if (rules !== undefined && skipped(rules, o, v, d)) continue;
      visitString(visit, o, k, path, k, v, true);
    } else if (typeof v === 'object' && v !== null) {
      const rules = byKey.get(k);
      if (rules !== undefined && skipped(rules, o, v, d)) continue;
      walkChild(visit, c, v as Obj, depth === 0 ? k : at(path, k, true), k, d);
    }
  }
}

function walkArray(
  visit: Sink,
  c: CompiledSkips,
  a: unknown[],
  path: PathRef,
  key: string | undefined,
  depth: number,
) {
  const holder = a as unknown as Obj;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (typeof v === 'string') {
      if (v.length > 0) visitString(visit, holder, i, path, key, v, true);
    } else if (typeof v === 'object' && v !== null) walkChild(visit, c, v as Obj, at(path, i), key, depth);
  }
}

function walkChild(
  visit: Sink,
  c: CompiledSkips,
  v: Obj,
  path: PathRef,
  key: string | undefined,
  depth: number,
) {
  if (depth >= MAX_DEPTH) {
    // Too deep to walk: scanned as one JSON text under its own path, so nothing escapes the scan.
    const box: Obj = { $: JSON.stringify(v) };
    emit(visit, new TextSlot(box, '$', path, key, undefined));
    return;
  }
  if (Array.isArray(v)) walkArray(visit, c, v, path, key, depth + 1);
  else walkObj(visit, c, v, path, depth);
}

/** Visits the string `v` at `holder[prop]`, whose path is `path` or, when `child`, `path` + `prop`. */
function visitString(
  visit: Sink,
  holder: Obj,
  prop: string | number,
  path: PathRef,
  key: string | undefined,
  v: string,
  child: boolean,
) {
  if (v.charCodeAt(0) === 100 /* d */) {
    const d = dataUrl(v);
    if (d !== undefined) {
      if (textMime(d.mime)) emit(visit, new TextSlot(holder, prop, path, key, undefined, 'data-url', child));
      return; // binary media: an image, audio or PDF is not text
    }
  }
  if (key !== undefined && JSON_KEYS.has(key) && typeof prop === 'string') {
    emit(visit, new TextSlot(holder, prop, path, key, true, undefined, child));
    return;
  }
  if ((key === 'data' || key === 'blob') && base64Text(holder)) {
    emit(visit, new TextSlot(holder, prop, path, key, undefined, 'base64', child));
    return;
  }
  emit(visit, new TextSlot(holder, prop, path, key, undefined, undefined, child));
}

/** The media type an object declares for its `data` (Anthropic `media_type`, Gemini `mimeType`). */
export function mediaTypeOf(holder: Obj): string | undefined {
  const m = holder.media_type ?? holder.mimeType ?? holder.mime_type;
  return typeof m === 'string' ? m : undefined;
}

/** `data` (MCP: `blob`) is base64 of text media: decoded and scanned. */
function base64Text(holder: Obj): boolean {
  const m = mediaTypeOf(holder);
  return m !== undefined && textMime(m);
}

/** Every string inside a structured value (tool inputs, function-call arguments, function responses). */
export function walkValue(
  visit: Sink,
  holder: Obj,
  prop: string | number,
  path: PathRef,
  key?: string,
  depth = 0,
) {
  const v = holder[prop];
  if (typeof v === 'string') {
    emit(visit, new TextSlot(holder, prop, path, key, undefined));
    return;
  }
  if (depth >= 64 || !isObj(v)) return;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) walkValue(visit, v as unknown as Obj, i, at(path, i), key, depth + 1);
  } else {
    const keys = Object.keys(v);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      walkValue(visit, v, k, at(path, k, true), k, depth + 1);
    }
  }
}
