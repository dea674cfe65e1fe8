// `portcullis` entry point: the command table. Each command's module is loaded only when it runs,
// so `--help` and small commands stay fast. How to add a command: src/cli/README.md.
import { Option } from 'commander';
import { type CommandSpec, runProgram } from './program.ts';

export type { CommandRun, CommandSpec, RawCommandRun } from './program.ts';

const DIR_ARG = '[dir]';
const GATEWAY: [string, string] = [
  '--gateway <url>',
  'the gateway (default: PORTCULLIS_URL, else the last one signed in to)',
];
const signingOptions: [string, string, string?][] = [
  ['--signing-key <file>', 'PEM private key to sign the bundle with (or PORTCULLIS_BUNDLE_SIGNING_KEY_FILE)'],
  ['--signing-alg <alg>', "RS256, PS256, ES256 … (OPA's algorithms, asymmetric only)", 'RS256'],
  ['--key-id <id>', 'key id recorded in the signature', 'default'],
  ['--scope <scope>', 'signature scope, checked by verifiers that set one'],
];
const dataDir: [string, string, string] = ['--data-dir <dir>', 'data directory holding audit.db', '.data'];

export const commands: Record<string, CommandSpec> = {
  'policy validate': {
    summary: 'validate a policy directory (schemas and cross-references)',
    description:
      'Checks every YAML document against its JSON Schema, cross-references (teams, chains,\nscopes, providers), and that the Rego compiles to Wasm. [dir] defaults to ./policies.',
    args: DIR_ARG,
    json: true,
    examples: ['portcullis policy validate policies', 'portcullis policy validate . --json'],
    run: async () => (await import('./policy.ts')).validate,
  },
  'policy test': {
    summary: 'run the Rego unit tests (opa test) with coverage',
    args: DIR_ARG,
    options: [
      ['--threshold <percent>', 'minimum test coverage', '90'],
      ['-v, --verbose', 'list every test'],
    ],
    json: true,
    run: async () => (await import('./policy.ts')).test,
  },
  'policy lint': {
    summary: 'Regal, opa fmt check and opa check --strict',
    description: 'Regal is installed on first use (go install) when it is missing.',
    args: DIR_ARG,
    options: [
      ['--require-regal', 'fail when Regal cannot be installed (otherwise it is skipped with a warning)'],
    ],
    run: async () => (await import('./policy.ts')).lint,
  },
  'policy build': {
    summary: 'compile the policy to an OPA Wasm bundle (signed with --signing-key)',
    description:
      'The bundle carries policy.wasm, the Rego, the policy data, the policy documents and the git\n' +
      "revision; with --signing-key it is signed in OPA's bundle signing format, and a gateway follows\n" +
      'it with `serve --bundle` without OPA (docs/deploy.md).',
    args: DIR_ARG,
    options: [['-o, --output <file>', 'bundle to write', 'bundle.tar.gz'], ...signingOptions],
    json: true,
    examples: ['portcullis policy build policies -o bundle.tar.gz --signing-key bundle-signing.pem'],
    run: async () => (await import('./policy.ts')).build,
  },
  'policy sign': {
    summary: "sign an OPA bundle in OPA's bundle signing format",
    args: '<bundle>',
    options: [['-o, --output <file>', 'signed bundle to write (default: in place)'], ...signingOptions],
    json: true,
    examples: ['portcullis policy sign bundle.tar.gz --signing-key bundle-signing.pem --key-id 2027-q1'],
    run: async () => (await import('./policy-bundle.ts')).sign,
  },
  'policy eval': {
    summary: 'evaluate one decision against the policy',
    description:
      'Either describe a call (--key and --model; the key, its team and the price come from the\n' +
      'policy itself) or give a full decision input with --input (see examples/eval-input.json).',
    args: DIR_ARG,
    options: [
      ['--key <id>', 'the VirtualKey making the call'],
      ['--model <model>', 'the model asked for'],
      new Option('--surface <surface>', 'the API called').choices(['openai', 'anthropic', 'gemini']),
      ['--provider <id>', 'the provider to route to (default: the first of the key that serves the model)'],
      ['--tools <names>', 'tool names the request declares, comma-separated'],
      ['-i, --input <file>', 'a complete decision input as JSON'],
    ],
    examples: [
      'portcullis policy eval --key bob-dev --model claude-opus-4-5',
      'portcullis policy eval --key bob-dev --model gpt-5-mini --surface openai',
      'portcullis policy eval --input examples/eval-input.json',
    ],
    run: async () => (await import('./policy.ts')).evaluate,
  },
  'policy diff': {
    summary: 'what a policy change does, in words, with risky changes flagged',
    description:
      'Keys added, removed, disabled; budgets, rate limits, models, providers and tool scopes widened\nor narrowed; guardrail chains weakened. Changes that widen access are flagged.',
    args: '<base> <head>',
    options: [
      ['--dir <dir>', 'the policy directory inside the repository', 'policies'],
      new Option('--format <format>', 'markdown (for a pull-request comment) or json')
        .choices(['markdown', 'json'])
        .default('markdown'),
      ['--fail-on-risk', 'exit 1 when any change is flagged'],
    ],
    json: true,
    examples: ['portcullis policy diff origin/main HEAD', 'portcullis policy diff old-dir new-dir --json'],
    run: async () => (await import('./policy-diff.ts')).diff,
  },
  'policy history': {
    summary: 'the commits that changed a key or a team, and what each changed',
    options: [
      ['--key <id>', "a VirtualKey's name"],
      ['--team <id>', "a Team's name"],
      ['--dir <dir>', 'the policy directory inside the git repository', 'policies'],
      ['--limit <n>', 'look at the newest N commits touching the policy directory only'],
    ],
    json: true,
    run: async () => (await import('./policy-history.ts')).history,
  },
  'policy replay': {
    summary: 'replay recorded calls under two policy revisions; report changed decisions',
    description: 'Budget and rate-limit usage is not replayed.',
    options: [
      ['--audit <path>', 'a data directory holding audit.db, or the audit.db file'],
      ['--base <rev>', 'git revision (or directory) of the current policy'],
      ['--head <rev>', 'git revision (or directory) of the proposed policy'],
      ['--dir <dir>', 'the policy directory inside the repository', 'policies'],
      ['--since <time>', "ISO-8601 or ago (24h, 7d); 'all' for every call", '7d'],
      new Option('--format <format>', 'markdown or json').choices(['markdown', 'json']).default('markdown'),
      ['--fail-on-change', 'exit 1 when any decision changes'],
    ],
    json: true,
    run: async () => (await import('./policy-replay.ts')).replay,
  },
  'audit verify': {
    summary: 'check the audit log: hash chain, sequence and checkpoint',
    description:
      'Exits 1 at the first record that was edited, deleted or reordered, or when the end was cut off.',
    options: [dataDir],
    json: true,
    examples: ['portcullis audit verify --data-dir .data/demo   (after npm start)'],
    run: async () => (await import('./audit.ts')).verify,
  },
  'audit query': {
    summary: 'filter audit records by key, team, model, outcome, time',
    options: [
      dataDir,
      ['--key <id>', 'virtual key id'],
      ['--team <name>', 'team'],
      ['--owner <name>', 'key owner'],
      ['--provider <id>', 'provider'],
      ['--model <name>', 'model'],
      new Option('--outcome <outcome>', 'outcome').choices([
        'allowed',
        'denied',
        'blocked',
        'aborted',
        'error',
      ]),
      ['--decision <code>', "the decision's code, e.g. model_not_allowed"],
      ['--request <id>', 'request id'],
      ['--since <time>', 'at or after TIME: ISO-8601 or ago (30m, 24h, 7d)'],
      ['--until <time>', 'before TIME, same forms'],
      ['--limit <n>', 'at most N records (0 for all)', '100'],
      ['--oldest-first', 'oldest first'],
      [
        '--gateway <url>',
        'ask a remote gateway as the person signed in with portcullis login (auditor role)',
      ],
    ],
    json: true,
    examples: [
      'portcullis audit query --data-dir .data/demo --outcome denied --since 1h',
      'portcullis audit query --gateway https://portcullis.acme.example --team app-dev --since 24h',
    ],
    run: async () => (await import('./audit.ts')).query,
  },
  init: {
    summary: 'scaffold a policy repository with examples, schemas, CI workflow and CODEOWNERS',
    description:
      'Creates a policy repository in <dir> (new or empty): the example policy with fresh random key\n' +
      'hashes (no key works until you create one), JSON Schemas for editors, a GitHub Actions workflow\n' +
      'running the policy checks, CODEOWNERS and a README.',
    args: '<dir>',
    options: [
      ['--owners <list>', 'CODEOWNERS owners, comma-separated', '@your-org/platform-team'],
      ['--cli <spec>', 'npm package spec CI installs the CLI from (a version, tarball URL or git URL)'],
    ],
    json: true,
    run: async () => (await import('./init.ts')).init,
  },
  serve: {
    summary: 'serve the inference APIs (OpenAI, Anthropic, Gemini) under the policy',
    options: [
      ['--policy <dir>', 'serve a local policy directory, reloaded when its files change', 'policies'],
      ['--git <repo>', 'follow a git repository (URL or path), fetched every --poll seconds and on webhooks'],
      ['--ref <ref>', 'branch or tag to follow with --git'],
      ['--subdir <dir>', 'policy directory inside the --git repository'],
      [
        '--bundle <url>',
        'follow a signed OPA bundle over HTTP(S) (ETag polling every --poll seconds); needs no OPA',
      ],
      ['--bundle-public-key <file>', 'PEM public key (or certificate) that verifies the bundle signature'],
      ['--bundle-key-id <id>', 'accept only signatures with this key id'],
      ['--bundle-scope <scope>', 'signature scope the bundle must carry'],
      ['--bundle-ca <file>', 'PEM CA trusted for the bundle server, beside the system CAs'],
      ['--poll <seconds>', 'how often to fetch with --git or --bundle', '30'],
      ['--allowed-signers <file>', 'SSH allowed-signers file: serve only signed commits'],
      ['--port <port>', 'port to listen on (0 for any free port)', '8080'],
      ['--host <host>', 'address to listen on', '127.0.0.1'],
      ['--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); re-read when the file changes'],
      ['--tls-key <file>', 'the PEM private key of --tls-cert'],
      [
        '--drain-seconds <seconds>',
        'on SIGTERM, how long calls in flight (streams) may finish before they are cut',
        '30',
      ],
      dataDir,
      ['--log-level <level>', 'pino log level', 'info'],
      [
        '--workers <n>',
        'event loops (processes) behind the port; default 1, `auto` for one per core (PORTCULLIS_WORKERS overrides)',
      ],
    ],
    description:
      'Provider upstreams default to the real APIs; PORTCULLIS_UPSTREAM_<PROVIDER> points one elsewhere\n' +
      '(e.g. PORTCULLIS_UPSTREAM_ANTHROPIC=http://127.0.0.1:8787). The effective upstreams are printed\n' +
      'at start and shown in /status.',
    run: async () => (await import('./serve.ts')).serve,
  },
  simulator: {
    summary: 'run a local OpenAI/Anthropic/Gemini stand-in for tests and demos',
    description:
      'Per request: x-sim-status, x-sim-delay-ms, x-sim-chunk-delay-ms, x-sim-output-tokens,\n' +
      'x-sim-cached-tokens, x-sim-fail-after headers, or a model named sim-error-<status>.',
    options: [
      ['--port <port>', 'port to listen on', '8787'],
      ['--host <host>', 'address to listen on', '127.0.0.1'],
      ['--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); re-read when the file changes'],
      ['--tls-key <file>', 'the PEM private key of --tls-cert'],
      [
        '--drain-seconds <seconds>',
        'on SIGTERM, how long calls in flight (streams) may finish before they are cut',
        '30',
      ],
      ['--first-byte-ms <ms>', 'delay before the first byte', '0'],
      ['--chunk-delay-ms <ms>', 'delay between stream chunks', '0'],
      ['--output-tokens <n>', 'tokens per answer', '16'],
      ['--tokens-per-chunk <n>', 'tokens per stream chunk', '2'],
      ['--cached-tokens <n>', 'cached input tokens reported', '0'],
    ],
    run: async () => (await import('./simulator.ts')).simulator,
  },
  usage: {
    summary:
      'your budgets and rate limits (spent, left, reset); with --by, spend by person, key, team or model',
    description:
      'Without --by: the budgets and rate limits of the key your agent uses (PORTCULLIS_API_KEY, else\n' +
      'ANTHROPIC_AUTH_TOKEN, ANTHROPIC_API_KEY, OPENAI_API_KEY or GEMINI_API_KEY), from GET /portcullis/v1/usage.\n' +
      'With --by: spend and calls grouped, for a signed-in person with the viewer role. Keys are never printed.',
    options: [
      GATEWAY,
      new Option('--by <what>', 'group spend by (viewer role)').choices(['person', 'key', 'team', 'model']),
      ['--since <time>', 'with --by: ISO-8601 or ago (24h, 7d)', '30d'],
    ],
    json: true,
    examples: [
      'PORTCULLIS_API_KEY=pcl_… portcullis usage --gateway http://127.0.0.1:8080',
      'portcullis usage --by team --since 7d',
    ],
    run: async () => {
      const own = (await import('./usage.ts')).usage;
      const byGroup = (await import('./identity.ts')).usage;
      return (args, options) => (options.by === undefined ? own(args, options) : byGroup(args, options));
    },
  },
  'prices check': {
    summary: "check the policy's model prices against a maintained price list (genai-prices)",
    description:
      "Compares every Provider's model prices with Pydantic's genai-prices list, shipped in its npm\n" +
      'package (no network): a cloud provider against its cloud, others against the first party.\n' +
      'Exit 1 when a model is stale (priced differently) or unpriced (not in the list).',
    args: DIR_ARG,
    options: [['--warn-only', 'report, but exit 0']],
    json: true,
    examples: ['portcullis prices check policies', 'portcullis prices check policies --json'],
    run: async () => (await import('../providers/prices/cli.ts')).pricesCheck,
  },
  'keys create': {
    summary: 'create a virtual key: prints the key once, writes only its hash',
    args: '[name]',
    options: [
      ['--name <id>', 'the key id (or give it as the argument)'],
      ['--owner <email>', 'who holds the key'],
      ['--team <team>', 'the Team it belongs to'],
      ['--models <globs>', 'models it may use, comma-separated globs'],
      ['--providers <ids>', 'providers it may use, comma-separated'],
      ['--tool-scope <scope>', 'ToolScope limiting its tools'],
      ['--guardrail-chain <chain>', 'GuardrailChain applied to its calls'],
      ['--expires <time>', 'expiry, ISO-8601'],
      ['--description <text>', 'what the key is for'],
      ['--dir <dir>', 'the policy directory', 'policies'],
      ['--file <path>', 'where to write the VirtualKey (default <dir>/keys/<name>.yaml)'],
    ],
    json: true,
    examples: [
      'portcullis keys create ana-dev --owner ana@example.com --team app-dev --models "claude-haiku-*"',
    ],
    run: async () => (await import('./keys.ts')).create,
  },
  'mcp-docs-server': {
    summary: 'serve Markdown files read-only over MCP stdio (the example McpServer upstream)',
    description: 'Tools: list_docs, search_docs, read_doc. Paths are relative to the working directory.',
    args: '[paths...]',
    run: async () => (await import('./docs-server.ts')).docsServerCommand,
  },
  setup: {
    summary: 'install the pinned OPA (and with --lint, Regal and actionlint) with go install',
    options: [
      ['--lint', 'also install Regal and actionlint (lint and the tests install them on first use)'],
      ['--with-redis', 'also install redis-server (Debian packages, as root) for the Redis store tests'],
    ],
    run: async () => (await import('../toolchain/setup.ts')).setupCommand,
  },
  'keys rotate': {
    summary:
      'a new key for a static VirtualKey: its hash into the YAML (for a pull request), the key printed once',
    args: '<name>',
    options: [['--dir <dir>', 'policy directory', 'policies']],
    examples: ['portcullis keys rotate ci-review-bot --dir policies'],
    run: async () => (await import('./identity.ts')).keysRotate,
  },
  'keys list': {
    summary: 'personal keys on a gateway: holder, groups, expiry, last use (yours; everyone’s as key-admin)',
    options: [
      GATEWAY,
      ['--user <subject>', 'one person'],
      ['--group <group>', 'keys issued to a group'],
      ['--all', 'revoked and expired keys too'],
    ],
    json: true,
    run: async () => (await import('./identity.ts')).keysList,
  },
  'keys revoke': {
    summary: 'revoke personal keys by key, user or group; every replica refuses them within 2 s',
    options: [
      GATEWAY,
      ['--key <id>', 'one key (pk_…)'],
      ['--user <subject>', 'every key of a person'],
      ['--group <group>', 'every key issued to a group'],
    ],
    examples: ['portcullis keys revoke --user 00u1dana --gateway https://portcullis.acme.example'],
    run: async () => (await import('./identity.ts')).keysRevoke,
  },
  login: {
    summary: 'sign in with your identity provider and get a personal key for a gateway',
    description:
      'Device flow (a code to confirm in any browser) or authorization code + PKCE through this\nmachine’s browser; the default is the browser where there is a display.',
    options: [
      GATEWAY,
      ['--device', 'sign in with a code to confirm in any browser'],
      ['--browser', 'sign in through this machine’s browser'],
      ['--idp <name>', 'which IdentityProvider, when the gateway trusts several'],
    ],
    examples: ['portcullis login --gateway https://portcullis.acme.example --device'],
    run: async () => (await import('./identity.ts')).login,
  },
  logout: {
    summary: 'revoke your personal key and forget the sign-in',
    options: [GATEWAY],
    run: async () => (await import('./identity.ts')).logout,
  },
  whoami: {
    summary: 'who the gateway sees: subject, groups, team, roles',
    options: [GATEWAY],
    json: true,
    run: async () => (await import('./identity.ts')).whoami,
  },
  token: {
    summary:
      "print a personal key valid for 5 more minutes (Claude Code's apiKeyHelper, Codex's auth command)",
    options: [GATEWAY],
    run: async () => (await import('./identity.ts')).token,
  },
  run: {
    summary: 'run claude, codex or gemini through the gateway as you (signs in if needed)',
    usage: '<claude|codex|gemini> [--gateway <url>] [--bin <path>] [-- agent args...]',
    load: async () => (await import('./identity.ts')).run,
  },
  'agent-config': {
    summary: 'managed-settings files that send Claude Code, Codex and Gemini CLI through the gateway',
    options: [
      GATEWAY,
      ['--out <dir>', 'write the files under this directory (default: print them)'],
      ['--cli <command>', 'how the agents run this CLI', 'portcullis'],
    ],
    examples: ['portcullis agent-config --gateway https://portcullis.acme.example --out fleet/'],
    run: async () => (await import('./identity.ts')).agentConfig,
  },
};

export async function main(argv: string[]): Promise<number> {
  return runProgram(commands, argv);
}
