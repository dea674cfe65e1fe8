// Reads every YAML document under a policy directory, keeping source positions so that later
// stages can point at file:line:column.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type Document, LineCounter, parseAllDocuments } from 'yaml';
import type { PolicyProblem } from './problems.ts';

export interface LoadedDocument {
  /** Path relative to the policy directory. */
  file: string;
  value: Record<string, unknown>;
  yaml: Document;
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
    const lines = new LineCounter();
    const parsed = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
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
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        const pos = lines.linePos(offset);
        at('a policy document must be a mapping with apiVersion, kind, metadata and spec', pos.line, pos.col);
        continue;
      }
      documents.push({ file, value: value as Record<string, unknown>, yaml, lines, offset });
    }
  }
  return { documents, problems };
}
