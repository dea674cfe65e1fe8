// How a command fails: one line saying what is wrong and one saying what to do, and an exit code a
// script can tell apart. Stack traces are printed only with --debug (or PORTCULLIS_DEBUG=1).
import { formatProblem, type PolicyProblem } from '../policy/problems.ts';
import { ToolMissingError } from '../toolchain/tools.ts';

/** Exit codes, the same for every command (documented in src/cli/README.md and `portcullis --help`). */
export const EXIT = {
  ok: 0,
  /** What was checked is wrong: the policy is invalid, a test failed, the audit log was tampered with. */
  invalid: 1,
  /** The command line is wrong: unknown command or option, missing or bad argument. */
  usage: 2,
  /** A tool or the environment failed: OPA missing, a file unreadable, a port in use, git failed. */
  toolFailure: 3,
} as const;

export class CliError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  constructor(message: string, options: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? EXIT.toolFailure;
    this.hint = options.hint;
  }
}

export const usageError = (message: string, hint?: string) =>
  new CliError(message, { exitCode: EXIT.usage, hint });

export interface ErrorReport {
  exitCode: number;
  message: string;
  hint?: string;
  /** Located policy problems, one per line, printed before the message. */
  problems?: string[];
  /** Not an error the CLI anticipated: its stack trace helps (--debug). */
  unexpected?: boolean;
}

/** What to tell the user about an error thrown by a command. */
export function describeError(e: unknown): ErrorReport {
  if (e instanceof CliError) return { exitCode: e.exitCode, message: e.message, hint: e.hint };
  // PolicyInvalidError and RegoCompileError, known by shape so that every command need not load the compiler.
  const problems = (e as { problems?: PolicyProblem[] })?.problems;
  if (Array.isArray(problems)) {
    const n = problems.length;
    return {
      exitCode: EXIT.invalid,
      message: `the policy is invalid (${n} problem${n === 1 ? '' : 's'})`,
      problems: problems.map(formatProblem),
    };
  }
  if (e instanceof ToolMissingError) {
    const [first, ...rest] = e.message.split('\n');
    return { exitCode: EXIT.toolFailure, message: first, hint: rest.join('\n') || undefined };
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'EADDRINUSE') {
    const port = (err as { port?: number }).port;
    return {
      exitCode: EXIT.toolFailure,
      message: port === undefined ? 'the port is already in use' : `port ${port} is already in use`,
      hint: 'stop what listens there, or pick another port with --port N (npm start: PORT=N npm start)',
    };
  }
  if (err?.code === 'ENOENT' && typeof err.path === 'string') {
    return { exitCode: EXIT.toolFailure, message: `no such file or directory: ${err.path}` };
  }
  if (err?.code === 'EACCES' && typeof err.path === 'string') {
    return { exitCode: EXIT.toolFailure, message: `permission denied: ${err.path}` };
  }
  const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
  return { exitCode: EXIT.toolFailure, message, unexpected: true };
}
