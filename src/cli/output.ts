// What commands print. Results go to stdout, progress and problems to stderr; colour only on a
// terminal that wants it (util.styleText honours NO_COLOR, FORCE_COLOR and TTY detection).
import { styleText } from 'node:util';

type Colour = 'green' | 'red' | 'yellow' | 'dim' | 'bold';

function paint(colour: Colour, text: string, stream: NodeJS.WriteStream): string {
  return styleText(colour, text, { stream });
}

export const out = (line: string) => process.stdout.write(`${line}\n`);
export const err = (line: string) => process.stderr.write(`${line}\n`);

/** `✓ text` on stdout. */
export const ok = (text: string) => out(`${paint('green', '✓', process.stdout)} ${text}`);
/** `✗ text` on stderr. */
export const failed = (text: string) => err(`${paint('red', '✗', process.stderr)} ${text}`);
/** `! text` on stderr. */
export const warn = (text: string) => err(`${paint('yellow', '!', process.stderr)} ${text}`);

export const dimOnStderr = (text: string) => paint('dim', text, process.stderr);

/** One JSON document on stdout, for --json. */
export const json = (value: unknown) => out(JSON.stringify(value, null, 2));
