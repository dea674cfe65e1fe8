// `portcullis init`: a new policy repository from the example policy — fresh key hashes that match
// no key anyone holds, schemas beside the YAML for editor completion, a CI workflow, CODEOWNERS.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { listPolicyFiles } from '../policy/load.ts';
import { REPO_ROOT } from '../toolchain/tools.ts';

export interface ScaffoldOptions {
  /** The example policy to copy (default: this repository's policies/). */
  examples?: string;
  /** JSON Schemas to copy (default: this repository's schemas/). */
  schemas?: string;
  /** npm package spec CI installs the CLI from: `portcullis@0.1.0`, a tarball URL, a git URL. */
  cliPackage: string;
  /** CODEOWNERS owners of the whole repository, e.g. `@acme/platform`. */
  owners?: string[];
}

export class TargetNotEmptyError extends Error {}

const SCHEMA_LINE = /^# yaml-language-server: \$schema=.*$/m;

/** Creates the repository in `target`; returns the files written, relative to it. */
export function scaffoldPolicyRepo(target: string, options: ScaffoldOptions): string[] {
  if (existsSync(target) && readdirSync(target).length > 0) {
    throw new TargetNotEmptyError(`${target} is not empty; init only writes into a new or empty directory`);
  }
  const examples = options.examples ?? join(REPO_ROOT, 'policies');
  const schemas = options.schemas ?? join(REPO_ROOT, 'schemas');
  const written: string[] = [];
  const write = (rel: string, text: string) => {
    const path = join(target, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    written.push(rel);
  };

  for (const name of readdirSync(schemas)
    .filter((f) => f.endsWith('.schema.json'))
    .sort()) {
    write(`schemas/${name}`, readFileSync(join(schemas, name), 'utf8'));
  }
  const committed = committedFiles(examples);
  const read = (path: string) =>
    committed?.get(relative(examples, path).split(sep).join('/')) ?? readFileSync(path, 'utf8');
  const wanted = (path: string) =>
    committed === undefined || committed.has(relative(examples, path).split(sep).join('/'));
  for (const path of listPolicyFiles(examples).filter(wanted)) {
    const rel = relative(examples, path).split(sep).join('/');
    write(rel, withSchemaComment(portableMcpCommands(freshKeyHashes(read(path))), rel));
  }
  if (existsSync(join(examples, 'rego'))) {
    for (const f of readdirSync(join(examples, 'rego'), { recursive: true, encoding: 'utf8' }).sort()) {
      const path = join(examples, 'rego', f);
      if (f.endsWith('.rego') && wanted(path)) write(`rego/${f.split(sep).join('/')}`, read(path));
    }
  }
  const regalConfig = join(examples, '.regal', 'config.yaml');
  if (existsSync(regalConfig)) write('.regal/config.yaml', read(regalConfig));
  write('.github/workflows/policy.yml', workflow(options.cliPackage));
  write('.github/CODEOWNERS', codeowners(options.owners ?? ['@your-org/platform-team']));
  write('.gitignore', '.data/\n');
  write('README.md', README);
  return written;
}

/**
 * The example's files as committed, by path relative to `dir`, when `dir` is in a git work tree:
 * keys someone created locally and did not commit stay out of a new repository. Undefined outside git
 * (an installed package), where the files are as published.
 */
function committedFiles(dir: string): Map<string, string> | undefined {
  const git = (args: string[]) =>
    spawnSync('git', args, { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const top = git(['rev-parse', '--show-prefix']);
  if (top.status !== 0) return undefined;
  const prefix = top.stdout.trim();
  const listed = git(['ls-tree', '-r', '-z', '--name-only', '--full-name', 'HEAD', '--', '.']);
  if (listed.status !== 0) return undefined;
  const files = new Map<string, string>();
  for (const full of listed.stdout.split('\0').filter(Boolean)) {
    const shown = git(['show', `HEAD:${full}`]);
    if (shown.status === 0) files.set(full.slice(prefix.length), shown.stdout);
  }
  return files;
}

/**
 * McpServer commands of the example run files of this repository; a new repository has none of
 * them, so its example server is the one the CLI carries: `portcullis mcp-docs-server`.
 */
function portableMcpCommands(text: string): string {
  if (!/^kind:\s*McpServer/m.test(text)) return text;
  return text
    .replace(
      /^(\s*command:\s*)\[[^\]]*docs-server\.ts[^\]]*\]/m,
      '$1[portcullis, mcp-docs-server, README.md]',
    )
    .replace(/\(examples\/mcp\/docs-server\.ts\)/, '(portcullis mcp-docs-server)')
    .replace(
      /^(\s*)# Run from the gateway's working directory.*$/m,
      "$1# Needs `portcullis` on the gateway's PATH; paths are relative to its working directory.",
    );
}

/** Every `keyHash` replaced by the hash of random bytes nobody keeps: the example keys stop working. */
export function freshKeyHashes(text: string): string {
  return text.replace(/(keyHash:\s*["']?)sha256:[0-9a-f]{64}/g, (_m, prefix: string) => {
    return `${prefix}sha256:${randomBytes(32).toString('hex')}`;
  });
}

/** The editor hint pointing at `schemas/<kind>.schema.json`, relative to the file at `rel`. */
function withSchemaComment(text: string, rel: string): string {
  const kind = /^kind:\s*([A-Za-z]+)/m.exec(text)?.[1];
  if (!kind) return text;
  const up = '../'.repeat(rel.split('/').length - 1);
  const line = `# yaml-language-server: $schema=${up}schemas/${kind.toLowerCase()}.schema.json`;
  return SCHEMA_LINE.test(text) ? text.replace(SCHEMA_LINE, line) : `${line}\n${text}`;
}

function workflow(cliPackage: string): string {
  return `# Checks every policy change: schemas, Rego tests and lint, and what the change does.
name: policy

on:
  pull_request:
  push:
    branches: [main]

permissions:
  contents: read

concurrency:
  group: policy-\${{ github.ref }}
  cancel-in-progress: true

jobs:
  check:
    runs-on: ubuntu-latest
    timeout-minutes: 20
    env:
      # Where the Portcullis CLI comes from: an npm version, a tarball URL or a git URL.
      PORTCULLIS_CLI: ${JSON.stringify(cliPackage)}
    steps:
      - uses: actions/checkout@v4
        with:
          # The semantic diff compares the pull request with its base commit.
          fetch-depth: 0
      - uses: actions/setup-node@v4
        with:
          node-version: 24
      - uses: actions/setup-go@v5
        with:
          go-version: stable
          cache: false
      - name: Install the Portcullis CLI and its pinned OPA and Regal
        run: |
          npm install -g --no-audit --no-fund "$PORTCULLIS_CLI"
          portcullis setup --lint
      - name: Validate (JSON Schema, cross-references, Rego compiles)
        run: portcullis policy validate .
      - name: Rego tests with coverage
        run: portcullis policy test . --threshold 90
      - name: Lint (opa check --strict, opa fmt, Regal)
        run: portcullis policy lint .
      - name: What the change does
        if: \${{ !cancelled() && github.event_name == 'pull_request' }}
        env:
          BASE: \${{ github.event.pull_request.base.sha }}
        run: portcullis policy diff "$BASE" HEAD --dir . >> "$GITHUB_STEP_SUMMARY"
`;
}

function codeowners(owners: string[]): string {
  return `# Every policy change needs a review from the platform team.
* ${owners.join(' ')}
# Decision logic and the gateway settings deserve a second look.
/rego/ ${owners.join(' ')}
/gateway.yaml ${owners.join(' ')}
`;
}

const README = `# Portcullis policy

This repository decides what AI coding agents may do through the Portcullis gateway: which keys
exist, which models and providers each may use, budgets, rate limits, guardrail chains and tool
scopes. The gateway pulls every commit on \`main\`, validates it, and swaps it in; a commit that fails
validation never replaces the running policy.

## Layout

| Path | Kind |
| --- | --- |
| \`gateway.yaml\` | \`Gateway\`: global settings (auth enforcement, fail mode, budget time zone) |
| \`providers/\` | \`Provider\`: upstream APIs, their models and prices, where the credential comes from |
| \`teams/\` | \`Team\`: the team tree, team budgets and rate limits |
| \`keys/\` | \`VirtualKey\`: one per developer, bot or service; only the SHA-256 hash of the key |
| \`scopes/\` | \`ToolScope\`: which agent and MCP tools a key may use |
| \`rego/\` | The decision in Rego, with \`_test.rego\` unit tests |
| \`schemas/\` | JSON Schemas; editors with the YAML language server complete and check the files |

The example keys were given fresh random hashes: no key works until you create one.

## Everyday changes

- New key: \`portcullis keys create ID --owner EMAIL --team TEAM --models "glob,glob" --dir .\`
  prints the key once (hand it to its owner) and writes only its hash here. Commit and open a pull request.
- Raise a budget, widen a tool scope, disable a key: edit the YAML and open a pull request.

## What CI does on a pull request

\`.github/workflows/policy.yml\` installs the Portcullis CLI (\`PORTCULLIS_CLI\` in the workflow says from
where) and runs:

1. \`portcullis policy validate .\`: JSON Schema, cross-references (unknown teams, chains, scopes) and
   the Rego compiled to Wasm.
2. \`portcullis policy test . --threshold 90\`: \`opa test\` with a coverage threshold.
3. \`portcullis policy lint .\`: \`opa check --strict\`, \`opa fmt\` and Regal.
4. On a pull request, \`portcullis policy diff\`: what the change does, in words, with changes that
   widen access or weaken a guardrail flagged, written to the job summary.

To see which recent calls a change would decide differently, run \`portcullis policy replay\` with a
copy of the gateway's audit log (\`--audit path/to/audit.db --base origin/main --head HEAD --dir .\`).

## The example MCP server

\`mcp/docs.yaml\` declares a read-only documentation server the gateway starts as
\`portcullis mcp-docs-server README.md\`; the gateway needs \`portcullis\` on its PATH for it.

Locally: \`portcullis policy validate .\`, \`portcullis policy test .\`,
\`portcullis policy diff origin/main HEAD --dir .\`, \`portcullis policy history --key NAME --dir .\`.

## Review

\`.github/CODEOWNERS\` requires the platform team's review; protect \`main\` so that merges need it
and a green policy check.
`;
