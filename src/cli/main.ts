// `portcullis` entry point: dispatches to one module per command, loaded lazily so that a
// command only pays for what it uses.
export type CommandRun = (args: string[]) => Promise<number>;

interface CommandEntry {
  summary: string;
  load: () => Promise<CommandRun>;
}

const commands: Record<string, CommandEntry> = {
  'policy validate': {
    summary: 'validate a policy directory (schemas and cross-references)',
    load: async () => (await import('./policy.ts')).validate,
  },
  'policy test': {
    summary: 'run the Rego unit tests (opa test) with coverage',
    load: async () => (await import('./policy.ts')).test,
  },
  'policy lint': {
    summary: 'Regal, opa fmt check and opa check --strict',
    load: async () => (await import('./policy.ts')).lint,
  },
  'policy build': {
    summary: 'compile the policy to an OPA Wasm bundle',
    load: async () => (await import('./policy.ts')).build,
  },
  'policy eval': {
    summary: 'evaluate one decision input against the policy',
    load: async () => (await import('./policy.ts')).evaluate,
  },
  'audit verify': {
    summary: 'check the audit log: hash chain, sequence and checkpoint',
    load: async () => (await import('./audit.ts')).verify,
  },
  'audit query': {
    summary: 'filter audit records by key, team, model, outcome, time',
    load: async () => (await import('./audit.ts')).query,
  },
  'policy diff': {
    summary: 'what a policy change does, in words, with risky changes flagged',
    load: async () => (await import('./policy-diff.ts')).diff,
  },
  'policy history': {
    summary: 'the commits that changed a key or a team, and what each changed',
    load: async () => (await import('./policy-history.ts')).history,
  },
  'policy replay': {
    summary: 'replay recorded calls under two policy revisions; report changed decisions',
    load: async () => (await import('./policy-replay.ts')).replay,
  },
  init: {
    summary: 'scaffold a policy repository with examples, schemas, CI workflow and CODEOWNERS',
    load: async () => (await import('./init.ts')).init,
  },
  serve: {
    summary: 'serve the inference APIs (OpenAI, Anthropic, Gemini) under the policy',
    load: async () => (await import('./serve.ts')).serve,
  },
  simulator: {
    summary: 'run a local OpenAI/Anthropic/Gemini stand-in for tests and demos',
    load: async () => (await import('./simulator.ts')).simulator,
  },
  'keys create': {
    summary: 'create a virtual key: prints the key once, writes only its hash',
    load: async () => (await import('./keys.ts')).create,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(
    ([name, c]) => `  portcullis ${name.padEnd(width)}  ${c.summary}`,
  );
  return `usage:\n${lines.join('\n')}\n\nRun a command with --help for its options.\n`;
}

export async function main(argv: string[]): Promise<number> {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(' ');
    const entry = commands[name];
    if (entry) return (await entry.load())(argv.slice(words));
  }
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === 'help' || argv[0] === '-h') {
    process.stdout.write(usage());
    return argv.length === 0 ? 2 : 0;
  }
  process.stderr.write(`portcullis: unknown command '${argv.join(' ')}'\n\n${usage()}`);
  return 2;
}
