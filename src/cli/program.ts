// Turns the command table (main.ts) into a commander program: help on every command and group,
// --version, suggestions for mistyped commands and options, one-line errors and fixed exit codes.
// See src/cli/README.md for how to add a command.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { describeError, EXIT } from './errors.ts';
import { dimOnStderr } from './output.ts';

/** Options as commander parsed them, camelCased (`--data-dir` → `dataDir`). */
export type ParsedOptions = Record<string, unknown>;

/** A command that commander parses: positionals in declaration order, options by camelCased name. */
export type CommandRun = (args: string[], options: ParsedOptions) => Promise<number>;

/** A command that parses its own argv (everything after its name, including --help). */
export type RawCommandRun = (argv: string[]) => Promise<number>;

/** `[flags, description, default?]`, e.g. `['--data-dir <dir>', 'data directory', '.data']`. */
export type OptionSpec = [flags: string, description: string, defaultValue?: string | boolean] | Option;

interface CommonSpec {
  /** One line for `portcullis --help`. */
  summary: string;
  /** Hidden from `portcullis --help` (still runs and has its own --help). */
  hidden?: boolean;
}

export interface ParsedCommandSpec extends CommonSpec {
  /** Paragraphs printed under the usage line of the command's --help. */
  description?: string;
  /** Positional arguments in commander syntax: `[dir]`, `<base> <head>`, `[paths...]`. */
  args?: string;
  options?: OptionSpec[];
  /** Adds `--json` (a machine-readable result on stdout). */
  json?: boolean;
  /** Lines printed under "Examples:" in --help. */
  examples?: string[];
  run: () => Promise<CommandRun>;
}

export interface RawCommandSpec extends CommonSpec {
  /** Arguments in the command's own usage line, for `portcullis --help`. */
  usage?: string;
  load: () => Promise<RawCommandRun>;
}

export type CommandSpec = ParsedCommandSpec | RawCommandSpec;

export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  what was checked is wrong (invalid policy, failing test, tampered audit log, risky change)
  2  usage error (unknown command or option, bad or missing argument)
  3  tool or environment failure (OPA missing, unreadable file, port in use, git failed)

Environment: NO_COLOR=1 disables colour; PORTCULLIS_DEBUG=1 is the same as --debug.`;

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Rewrites commander's `error: …\n(Did you mean x?)` as one line in our style. */
function oneLine(str: string): string {
  const lines = str
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const [first, ...rest] = lines;
  const message = first.replace(/^error: /, '');
  const suggestion = rest.find((l) => /^\(Did you mean/.test(l));
  const others = rest.filter((l) => l !== suggestion);
  const tail = suggestion ? ` ${suggestion.replace('(Did you mean', '(did you mean')}` : '';
  return [`portcullis: ${message}${tail}`, ...others].join('\n');
}

function applyOption(cmd: Command, spec: OptionSpec): void {
  if (spec instanceof Option) cmd.addOption(spec);
  else if (spec[2] === undefined) cmd.option(spec[0], spec[1]);
  else cmd.option(spec[0], spec[1], spec[2]);
}

interface RunState {
  exitCode: number;
  debug: boolean;
  json: boolean;
}

function configure(cmd: Command, path: string): Command {
  return cmd
    .exitOverride()
    .showSuggestionAfterError(true)
    .showHelpAfterError(dimOnStderr(`Run 'portcullis ${path}${path ? ' ' : ''}--help' for usage.`))
    .configureOutput({ outputError: (str, write) => write(`${oneLine(str)}\n`) });
}

export function buildProgram(table: Record<string, CommandSpec>, state: RunState): Command {
  const program = configure(new Command('portcullis'), '')
    .description(
      'Portcullis: a GitOps policy-as-code gateway for AI coding agents.\n' +
        'Policy (keys, budgets, guardrails, tool scopes) lives in git as YAML and Rego.',
    )
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--debug', 'print stack traces of unexpected errors')
    .enablePositionalOptions()
    .addHelpText('after', `\n${EXIT_CODES_HELP}`);

  const groups = new Map<string, Command>([['', program]]);
  const groupOf = (words: string[]): Command => {
    const key = words.join(' ');
    const known = groups.get(key);
    if (known) return known;
    const parent = groupOf(words.slice(0, -1));
    const group = configure(parent.command(words[words.length - 1]), key)
      .enablePositionalOptions()
      .description(`${words[words.length - 1]} commands`);
    groups.set(key, group);
    return group;
  };

  for (const [name, spec] of Object.entries(table)) {
    const words = name.split(' ');
    const parent = groupOf(words.slice(0, -1));
    const leaf = words[words.length - 1];
    const cmd = configure(parent.command(leaf, { hidden: spec.hidden }), name).summary(spec.summary);
    if ('load' in spec) {
      cmd
        .description(spec.summary)
        .usage(spec.usage ?? '[arguments]')
        .helpOption(false)
        .allowUnknownOption()
        .allowExcessArguments()
        .passThroughOptions()
        .argument('[args...]')
        .action(async () => {
          state.exitCode = await (await spec.load())(cmd.args);
        });
      continue;
    }
    // Single newlines in the table are for its readers; commander wraps to the terminal.
    const prose = spec.description?.replace(/(?<!\n)\n(?!\n)/g, ' ');
    cmd.description(prose ? `${spec.summary}\n\n${prose}` : spec.summary);
    if (spec.args) for (const a of spec.args.split(/\s+/)) cmd.argument(a);
    for (const o of spec.options ?? []) applyOption(cmd, o);
    if (spec.json) cmd.option('--json', 'print the result as JSON on stdout');
    cmd.addOption(new Option('--debug', 'print stack traces of unexpected errors').hideHelp());
    if (spec.examples?.length)
      cmd.addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  ${e}`).join('\n')}`);
    cmd.action(async () => {
      const opts = cmd.opts();
      if (opts.debug) state.debug = true;
      if (opts.json) state.json = true;
      state.exitCode = await (await spec.run())(cmd.args, opts);
    });
  }
  for (const [key, group] of groups) {
    if (key === '') continue;
    const names = group.commands
      .filter((c) => !(c as unknown as { _hidden?: boolean })._hidden)
      .map((c) => c.name());
    group.summary(`${names.join(' | ')}`).description(`portcullis ${key} ${names.join(' | ')}`);
  }
  return program;
}

/** Runs the CLI and returns the exit code; never throws. */
export async function runProgram(table: Record<string, CommandSpec>, argv: string[]): Promise<number> {
  // `portcullis … | head` closes the pipe early: that is not an error.
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  const state: RunState = {
    exitCode: EXIT.ok,
    debug: process.env.PORTCULLIS_DEBUG === '1' || argv.includes('--debug'),
    json: false,
  };
  const program = buildProgram(table, state);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return state.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok;
      // Help shown because a group or the program was run without a command.
      return EXIT.usage;
    }
    return reportError(e, state.debug, state.json);
  }
}

export function reportError(e: unknown, debug: boolean, asJson = false): number {
  const report = describeError(e);
  for (const p of report.problems ?? []) process.stderr.write(`${p}\n`);
  process.stderr.write(`portcullis: ${report.message}\n`);
  if (report.hint) process.stderr.write(`${report.hint}\n`);
  if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  else if (report.unexpected) process.stderr.write('Run again with --debug for the stack trace.\n');
  // A script that asked for --json reads the failure from stdout too.
  if (asJson) {
    const { exitCode, message, hint, problems } = report;
    process.stdout.write(`${JSON.stringify({ error: { exitCode, message, hint, problems } })}\n`);
  }
  return report.exitCode;
}
