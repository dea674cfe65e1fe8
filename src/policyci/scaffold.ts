// `portcullis init`: a new policy repository from the example policy — fresh key hashes that match
// no key anyone holds, schemas beside the YAML for editor completion, a CI workflow, CODEOWNERS.
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { listPolicyFiles } from '../policy/load.ts';
import { REPO_ROOT } from '../toolchain/tools.ts';

export const DEFAULT_ACTION = 'portcullis-dev/portcullis/.github/actions/policy-check@main';

export interface ScaffoldOptions {
  /** The example policy to copy (default: this repository's policies/). */
  examples?: string;
  /** JSON Schemas to copy (default: this repository's schemas/). */
  schemas?: string;
  /** `uses:` reference of the policy-check composite action. */
  action?: string;
  /** CODEOWNERS owners of the whole repository, e.g. `@acme/platform`. */
  owners?: string[];
}

export class TargetNotEmptyError extends Error {}

const SCHEMA_LINE = /^# yaml-language-server: \$schema=.*$/m;

/** Creates the repository in `target`; returns the files written, relative to it. */
export function scaffoldPolicyRepo(target: string, options: ScaffoldOptions = {}): string[] {
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
  for (const path of listPolicyFiles(examples)) {
    const rel = relative(examples, path).split(sep).join('/');
    write(rel, withSchemaComment(freshKeyHashes(readFileSync(path, 'utf8')), rel));
  }
  if (existsSync(join(examples, 'rego'))) {
    cpSync(join(examples, 'rego'), join(target, 'rego'), { recursive: true });
    for (const f of readdirSync(join(target, 'rego'), { recursive: true })) written.push(`rego/${f}`);
  }
  const regalConfig = join(examples, '.regal', 'config.yaml');
  if (existsSync(regalConfig)) write('.regal/config.yaml', readFileSync(regalConfig, 'utf8'));
  write('.github/workflows/policy.yml', workflow(options.action ?? DEFAULT_ACTION));
  write('.github/CODEOWNERS', codeowners(options.owners ?? ['@your-org/platform-team']));
  write('.gitignore', '.data/\n');
  write('README.md', README);
  return written;
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

function workflow(action: string): string {
  return `# Checks every policy change: schemas, Rego tests and lint, and what the change does.
name: policy

on:
  pull_request:
  push:
    branches: [main]

permissions:
  contents: read
  pull-requests: write

concurrency:
  group: policy-\${{ github.ref }}
  cancel-in-progress: true

jobs:
  check:
    runs-on: ubuntu-latest
    timeout-minutes: 20
    steps:
      - uses: actions/checkout@v4
        with:
          # The semantic diff compares the pull request with its base commit.
          fetch-depth: 0
      - uses: ${action}
        with:
          policy-dir: .
          coverage: "90"
          comment: \${{ github.event_name == 'pull_request' }}
          github-token: \${{ secrets.GITHUB_TOKEN }}
          # To replay recent traffic, point this at a copy of the gateway's audit.db, e.g. one a
          # scheduled job downloads from your backup bucket.
          audit: ""
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

- New key: \`portcullis keys create --name ID --owner EMAIL --team TEAM --models "glob,glob" --dir .\`
  prints the key once (hand it to its owner) and writes only its hash here. Commit and open a pull request.
- Raise a budget, widen a tool scope, disable a key: edit the YAML and open a pull request.

## What CI does on a pull request

\`.github/workflows/policy.yml\` runs the Portcullis policy-check action:

1. \`portcullis policy validate\`: JSON Schema and cross-references (unknown teams, chains, scopes).
2. \`opa check --strict\`, \`opa fmt\`, Regal lint, and \`opa test\` with a coverage threshold.
3. \`portcullis policy diff\`: what the change does, in words, with changes that widen access or
   weaken a guardrail flagged, written to the job summary and (optionally) as a PR comment.
4. \`portcullis policy replay\`, when an audit log is configured: which recent calls would now be
   decided differently.

Locally: \`portcullis policy validate .\`, \`portcullis policy test .\`,
\`portcullis policy diff origin/main HEAD --dir .\`, \`portcullis policy history --key NAME --dir .\`.

## Review

\`.github/CODEOWNERS\` requires the platform team's review; protect \`main\` so that merges need it
and a green policy check.
`;
