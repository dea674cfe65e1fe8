// A read-only MCP server over Markdown files (by default docs/ and README.md under the working
// directory): list, search and read, spoken over stdio. It is the example upstream of the McpServer
// documents in policies/mcp/ and in repositories made by `portcullis init`, started as
// `portcullis mcp-docs-server [dir-or-file ...]` (or examples/mcp/docs-server.ts in this repository).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const MAX_HITS = 30;

/** Serves the Markdown under `paths` (relative to the working directory) until stdin closes. */
export async function serveDocs(paths: string[]): Promise<void> {
  const base = process.cwd();
  const roots = (paths.length > 0 ? paths : ['docs', 'README.md']).map((r) => resolve(base, r));

  function markdownFiles(): string[] {
    const out: string[] = [];
    const walk = (p: string) => {
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(p);
      } catch {
        return;
      }
      if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
      else if (/\.(md|markdown)$/i.test(p)) out.push(relative(base, p));
    };
    for (const r of roots) walk(r);
    return out.sort();
  }

  /** A path the caller gave, accepted only if it is one of the served files. */
  function servedFile(path: string): string | undefined {
    const wanted = relative(base, resolve(base, path));
    return wanted.startsWith(`..${sep}`) ? undefined : markdownFiles().find((f) => f === wanted);
  }

  const text = (t: string, isError = false) => ({ content: [{ type: 'text' as const, text: t }], isError });

  const server = new McpServer({ name: 'portcullis-docs', version: '1.0.0' });

  server.registerTool(
    'list_docs',
    { description: 'List the Markdown documents this server serves.', annotations: { readOnlyHint: true } },
    async () => text(markdownFiles().join('\n') || 'no documents'),
  );

  server.registerTool(
    'search_docs',
    {
      description: 'Case-insensitive search of the documents; returns matching lines as path:line: text.',
      inputSchema: { query: z.string().min(1).describe('Words to find, all of them on one line') },
      annotations: { readOnlyHint: true },
    },
    async ({ query }) => {
      const words = query.toLowerCase().split(/\s+/).filter(Boolean);
      const hits: string[] = [];
      for (const file of markdownFiles()) {
        const lines = readFileSync(resolve(base, file), 'utf8').split('\n');
        lines.forEach((line, i) => {
          const l = line.toLowerCase();
          if (hits.length < MAX_HITS && words.every((w) => l.includes(w)))
            hits.push(`${file}:${i + 1}: ${line.trim()}`);
        });
      }
      return text(hits.length ? hits.join('\n') : `no line contains: ${query}`);
    },
  );

  server.registerTool(
    'read_doc',
    {
      description: 'Read one document (a path from list_docs), optionally a range of lines.',
      inputSchema: {
        path: z.string(),
        fromLine: z.number().int().min(1).optional(),
        toLine: z.number().int().min(1).optional(),
      },
      annotations: { readOnlyHint: true },
    },
    async ({ path, fromLine, toLine }) => {
      const file = servedFile(path);
      if (!file) return text(`${path} is not one of the served documents; see list_docs`, true);
      const lines = readFileSync(resolve(base, file), 'utf8').split('\n');
      return text(lines.slice((fromLine ?? 1) - 1, toLine ?? lines.length).join('\n'));
    },
  );

  await server.connect(new StdioServerTransport());
}

/** `portcullis mcp-docs-server [paths...]`. */
export async function docsServerCommand(args: string[]): Promise<number> {
  await serveDocs(args);
  await new Promise<void>((done) => process.stdin.once('close', done));
  return 0;
}
