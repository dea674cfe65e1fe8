// The body walker: every string in a request is text the provider receives, and every string in a
// non-streamed response is text the client receives, so every string is visited — on every surface,
// in every block type, including ones an API adds tomorrow — except the fields a per-format,
// per-direction skip list (skip-lists.ts) names, each with the reason it is not text anyone reads. The
// walker hands out the object holding each string and its property, so the same walk serves scanning
// (read it) and redaction (write it).
//
// The walk runs over the whole history on every call, and most texts are cache hits with no finding,
// whose path nobody reads: the scanner's walk fills a reused table of parallel arrays (SlotTable) and
// renders a path only for a text with a finding.

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

// How a table entry's string is read (SlotTable.how).
const JSON_TEXT = 1;
const BASE64 = 2;
const DATA_URL_TEXT = 4;
/** The entry's path is its container's own (a too-deep subtree scanned as one JSON text). */
const OWN_PATH = 8;

/**
 * The texts one walk found, as parallel arrays: no object per text or per container, so walking a
 * long history leaves next to nothing for the garbage collector. Entry `i` is the string at
 * `holder[i][prop[i]]` inside container `node[i]`; containers form a tree of (parent, segment) for
 * rendering a path when one is asked for. `acquire()` lends one table to synchronous callers in turn.
 */
export class SlotTable {
  count = 0;
  readonly holder: Obj[] = [];
  readonly prop: (string | number)[] = [];
  readonly key: (string | undefined)[] = [];
  readonly how: number[] = [];
  readonly node: number[] = [];
  nodes = 0;
  readonly up: number[] = [];
  readonly seg: (string | number)[] = [];
  /**
   * The string at each entry when it is the text itself (no encoding), as the walk found it; the
   * scanner stores the texts it decoded here too. Cleared by reset.
   */
  readonly texts: (string | undefined)[] = [];
  /** Room for a caller's per-entry values (the scanner's cache entries), cleared by reset. */
  readonly extra: unknown[] = [];
  #busy = false;

  add(
    holder: Obj,
    prop: string | number,
    node: number,
    key: string | undefined,
    how: number,
    value?: string,
  ): void {
    const i = this.count++;
    this.holder[i] = holder;
    this.prop[i] = prop;
    this.key[i] = key;
    this.how[i] = how;
    this.node[i] = node;
    this.texts[i] = value;
  }

  /** A container inside container `up` (-1: the body) at `seg`; returns its number. */
  container(up: number, seg: string | number): number {
    const n = this.nodes++;
    this.up[n] = up;
    this.seg[n] = seg;
    return n;
  }

  /** The text entry `i` carries: the string itself, or what its encoding holds. */
  text(i: number): string {
    const v = this.holder[i][this.prop[i]] as string;
    const how = this.how[i];
    if ((how & BASE64) !== 0) return decodeText(v, 'base64');
    if ((how & DATA_URL_TEXT) !== 0) return decodeText(v, 'data-url');
    return v;
  }

  json(i: number): boolean {
    return (this.how[i] & JSON_TEXT) !== 0;
  }

  decode(i: number): Decode | undefined {
    const how = this.how[i];
    return (how & BASE64) !== 0 ? 'base64' : (how & DATA_URL_TEXT) !== 0 ? 'data-url' : undefined;
  }

  path(i: number): string {
    const up = this.#render(this.node[i]);
    if ((this.how[i] & OWN_PATH) !== 0) return up;
    return segment(up, this.prop[i]);
  }

  #render(n: number): string {
    return n < 0 ? '' : segment(this.#render(this.up[n]), this.seg[n]);
  }

  /** Entry `i` as a Slot object (for visitors and redaction). */
  slot(i: number): Slot {
    return new TextSlot(
      this.holder[i],
      this.prop[i],
      this.path(i),
      this.key[i],
      this.json(i) || undefined,
      this.decode(i),
    );
  }

  /** Forgets the entries (and the body they point into). */
  reset(): void {
    const n = this.count;
    for (let i = 0; i < n; i++) this.holder[i] = EMPTY_OBJ;
    for (let i = 0; i < n && i < this.texts.length; i++) this.texts[i] = undefined;
    for (let i = 0; i < n && i < this.extra.length; i++) this.extra[i] = undefined;
    this.count = 0;
    this.nodes = 0;
  }

  /**
   * A table to fill and read synchronously: the shared one, or a fresh one while the shared one is in
   * use. Give it back with `release`.
   */
  static acquire(): SlotTable {
    const t = shared.#busy ? new SlotTable() : shared;
    t.#busy = true;
    return t;
  }

  static release(t: SlotTable): void {
    t.reset();
    t.#busy = false;
  }
}

/** A top-level key is its own path (`messages`); below it, `a.b`, `a[0]`, `a["b-c"]`. */
const segment = (up: string, seg: string | number): string =>
  up === '' && typeof seg === 'string' ? seg : childPath(up, seg);

const EMPTY_OBJ: Obj = Object.freeze({}) as Obj;
const shared = new SlotTable();

/**
 * Visits every string of `body` except the fields `skips` names. Strings that are `data:` URLs of
 * binary media are skipped (an image is not text); text data URLs and base64 text media are visited
 * with their decoding, so a scanner reads the text the model reads. `into` is a table to fill, or a
 * function called with each text as a Slot.
 */
export function walkBody(body: unknown, skips: SkipList, into: Visit | SlotTable): void {
  if (!isObj(body)) return;
  const c = compileSkips(skips);
  if (into instanceof SlotTable) {
    walkObj(into, c, body, -1, 0);
    return;
  }
  const t = new SlotTable();
  walkObj(t, c, body, -1, 0);
  for (let i = 0; i < t.count; i++) into(t.slot(i));
}

function walkObj(t: SlotTable, c: CompiledSkips, o: Obj, node: number, depth: number): void {
  if (Array.isArray(o)) {
    walkArray(t, c, o, node, undefined, depth + 1);
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
      addString(t, o, k, node, k, v);
    } else if (typeof v === 'object' && v !== null) {
      const rules = byKey.get(k);
      if (rules !== undefined && skipped(rules, o, v, d)) continue;
      walkChild(t, c, v as Obj, node, k, k, d);
    }
  }
}

function walkArray(
  t: SlotTable,
  c: CompiledSkips,
  a: unknown[],
  node: number,
  key: string | undefined,
  depth: number,
) {
  const holder = a as unknown as Obj;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (typeof v === 'string') {
      if (v.length > 0) addString(t, holder, i, node, key, v);
    } else if (typeof v === 'object' && v !== null) walkChild(t, c, v as Obj, node, i, key, depth);
  }
}

/** Walks `v`, found in container `up` at `seg`. */
function walkChild(
  t: SlotTable,
  c: CompiledSkips,
  v: Obj,
  up: number,
  seg: string | number,
  key: string | undefined,
  depth: number,
) {
  const node = t.container(up, seg);
  if (depth >= MAX_DEPTH) {
    // Too deep to walk: scanned as one JSON text under its own path, so nothing escapes the scan.
    t.add({ $: JSON.stringify(v) }, '$', node, key, OWN_PATH);
    return;
  }
  if (Array.isArray(v)) walkArray(t, c, v, node, key, depth + 1);
  else walkObj(t, c, v, node, depth);
}

/** Adds the string `v` at `holder[prop]` in container `node`. */
function addString(
  t: SlotTable,
  holder: Obj,
  prop: string | number,
  node: number,
  key: string | undefined,
  v: string,
) {
  if (v.charCodeAt(0) === 100 /* d */) {
    const d = dataUrl(v);
    if (d !== undefined) {
      if (textMime(d.mime)) t.add(holder, prop, node, key, DATA_URL_TEXT);
      return; // binary media: an image, audio or PDF is not text
    }
  }
  if (key !== undefined && typeof prop === 'string' && JSON_KEYS.has(key)) {
    t.add(holder, prop, node, key, JSON_TEXT);
    return;
  }
  if ((key === 'data' || key === 'blob') && base64Text(holder)) {
    t.add(holder, prop, node, key, BASE64);
    return;
  }
  t.add(holder, prop, node, key, 0, v);
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
  visit: Visit,
  holder: Obj,
  prop: string | number,
  path: PathRef,
  key?: string,
  depth = 0,
) {
  const v = holder[prop];
  if (typeof v === 'string') {
    visit(new TextSlot(holder, prop, path, key, undefined));
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
