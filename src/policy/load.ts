// Reads every YAML document under a policy directory. A file is read with a fast parser that keeps
// no source positions; the positions later stages point at (file:line:column) come from parsing the
// file again with `yaml`, and only for a document that has a problem to report. A file the fast
// parser cannot take exactly as `yaml` would (bad syntax, directives, aliases, tags, a document that
// is not a plain mapping) is read by `yaml` from the start, so its problems are reported as before.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  CORE_SCHEMA,
  constructFromEvents,
  defineMappingTag,
  EVENT_ID,
  type Event,
  mapTag,
  parseEvents,
} from 'js-yaml';
import { type Document, LineCounter, parseAllDocuments } from 'yaml';
import type { PolicyProblem } from './problems.ts';

export interface LoadedDocument {
  /** Path relative to the policy directory. */
  file: string;
  value: Record<string, unknown>;
  /** The document with node positions; for a fast-read file, parsed on first use. */
  readonly yaml: Document;
  lines: LineCounter;
  /** Offset of the document's first node, for problems about the whole document. */
  offset: number;
}

export interface LoadOptions {
  /** Larger files are refused rather than parsed (default 16 MiB). */
  maxFileBytes?: number;
}

export const MAX_ALIAS_COUNT = 100;
const SKIPPED_DIRS = new Set(['node_modules', '.git', 'rego']);

export function listPolicyFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      if (entry.name.startsWith('.')) continue;
      const path = join(d, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name)) walk(path);
      } else if (entry.isFile() && /\.ya?ml$/.test(entry.name)) {
        out.push(path);
      }
    }
  };
  walk(dir);
  return out;
}

export function positionOf(doc: LoadedDocument, offset: number): { line: number; column: number } {
  const pos = doc.lines.linePos(offset);
  return { line: pos.line, column: pos.col };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const YAML_OPTIONS = { uniqueKeys: true, prettyErrors: false } as const;

/**
 * YAML 1.2's core schema, as `yaml` reads it by default. A null key is refused rather than read:
 * `yaml` turns it into '' and js-yaml into 'null', so such a file goes to the exact path.
 */
const FAST_SCHEMA = CORE_SCHEMA.withTags(
  defineMappingTag('tag:yaml.org,2002:map', {
    create: mapTag.create,
    identify: mapTag.identify,
    has: mapTag.has,
    keys: mapTag.keys,
    get: mapTag.get,
    addPair: (container, key, value) => (key === null ? 'null key' : mapTag.addPair(container, key, value)),
  }),
);

/** Line starts of `text`, as `yaml`'s parser records them. */
function lineCounterOf(text: string): LineCounter {
  const lines = new LineCounter();
  lines.addNewLine(0);
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1);
  return lines;
}

const isPlainMapping = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Every document of `text` with its first node's offset, when each one is an untagged, unanchored
 * mapping without directives or aliases that js-yaml reads without complaint; else undefined (read
 * it with `yaml`).
 */
function readFast(text: string): { value: Record<string, unknown>; offset: number }[] | undefined {
  let events: Event[];
  let values: unknown[];
  try {
    events = parseEvents(text, {});
    values = constructFromEvents(events, { source: text, schema: FAST_SCHEMA, maxAliases: 0 });
  } catch {
    return undefined;
  }
  const out: { value: Record<string, unknown>; offset: number }[] = [];
  for (let i = 0; i < events.length; i++) {
    const event = events[i];
    if (event.type !== EVENT_ID.DOCUMENT) continue;
    // `%YAML 1.1` makes `yaml` read `yes` as true and `010` as 8: directives go the exact way.
    if (event.directives.length > 0) return undefined;
    const root = events[i + 1];
    const value = values[out.length];
    if (root?.type !== EVENT_ID.MAPPING || root.anchorStart !== -1 || root.tagStart !== -1) return undefined;
    if (!isPlainMapping(value)) return undefined;
    out.push({ value, offset: root.start });
  }
  return out.length === values.length ? out : undefined;
}

export function loadPolicyDocuments(
  dir: string,
  options: LoadOptions = {},
): { documents: LoadedDocument[]; problems: PolicyProblem[] } {
  const maxBytes = options.maxFileBytes ?? 16 * 1024 * 1024;
  const documents: LoadedDocument[] = [];
  const problems: PolicyProblem[] = [];
  for (const path of listPolicyFiles(dir)) {
    const file = relative(dir, path);
    const at = (message: string, line = 1, column = 1) => problems.push({ file, line, column, message });
    const size = statSync(path).size;
    if (size > maxBytes) {
      at(`file is ${size} bytes, larger than the ${maxBytes}-byte limit for one policy file; split it`);
      continue;
    }
    let text: string;
    try {
      text = utf8.decode(readFileSync(path));
    } catch {
      at('file is not valid UTF-8 text');
      continue;
    }
    const fast = readFast(text);
    if (fast) {
      for (const doc of withLazyPositions(file, text, fast)) documents.push(doc);
      continue;
    }
    const lines = new LineCounter();
    const parsed = parseAllDocuments(text, { lineCounter: lines, ...YAML_OPTIONS });
    const docs = Array.isArray(parsed) ? parsed : [];
    for (const yaml of docs) {
      if (yaml.errors.length > 0) {
        for (const err of yaml.errors) {
          const pos = lines.linePos(err.pos[0]);
          at(`invalid YAML: ${err.message.split('\n')[0]}`, pos.line, pos.col);
        }
        continue;
      }
      if (yaml.contents === null) continue;
      const offset = yaml.contents.range?.[0] ?? 0;
      let value: unknown;
      try {
        value = yaml.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
      } catch (err) {
        const pos = lines.linePos(offset);
        const why = /alias/i.test((err as Error).message)
          ? `too many YAML aliases (more than ${MAX_ALIAS_COUNT}); alias expansion is limited to stop resource exhaustion`
          : `cannot read YAML: ${(err as Error).message.split('\n')[0]}`;
        at(why, pos.line, pos.col);
        continue;
      }
      if (!isPlainMapping(value)) {
        const pos = lines.linePos(offset);
        at('a policy document must be a mapping with apiVersion, kind, metadata and spec', pos.line, pos.col);
        continue;
      }
      documents.push({ file, value: ownStrings(value), yaml, lines, offset });
    }
  }
  return { documents, problems };
}

/** V8 keeps a substring of this many characters or more as a slice that holds on to its whole source. */
const SLICED_STRING_MIN_LENGTH = 13;

/**
 * Gives each string of a document read from `text` a copy of its own, in place. A snapshot keeps
 * some of them for as long as it serves (a key's id, owner, hash, model globs), and any one of them
 * kept as a slice would keep the whole file alive: 3 MB of text for 10,000 keys.
 */
function ownStrings<T>(value: T): T {
  if (typeof value === 'string') {
    return (value.length < SLICED_STRING_MIN_LENGTH ? value : JSON.parse(JSON.stringify(value))) as T;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = ownStrings(value[i]);
  } else if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = ownStrings(record[key]);
  }
  return value;
}

/** Documents read fast; the file is parsed with positions once, when one of them is first asked for its nodes. */
function withLazyPositions(
  file: string,
  text: string,
  read: { value: Record<string, unknown>; offset: number }[],
): LoadedDocument[] {
  const lines = lineCounterOf(text);
  let positioned: Document[] | undefined;
  const nodesOf = (index: number): Document => {
    if (!positioned) {
      const parsed = parseAllDocuments(text, YAML_OPTIONS);
      positioned = Array.isArray(parsed) ? parsed : [];
    }
    const doc = positioned[index];
    if (!doc) throw new Error(`${file}: document ${index + 1} could not be parsed again to locate a problem`);
    return doc;
  };
  return read.map(({ value, offset }, index) => ({
    file,
    value: ownStrings(value),
    lines,
    offset,
    get yaml() {
      return nodesOf(index);
    },
  }));
}
