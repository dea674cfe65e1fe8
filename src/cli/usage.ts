// `portcullis usage`: the caller's own budgets and rate limits, read from a running gateway with the
// key the caller's agent uses (so a developer sees what they have left before they hit the wall).
import { formatUsageView, type UsageView } from '../limits/usage-view.ts';

/** Where the key is looked for, in order: the variables the agents themselves read. */
export const KEY_VARIABLES = [
  'PORTCULLIS_API_KEY',
  'ANTHROPIC_AUTH_TOKEN',
  'ANTHROPIC_API_KEY',
  'OPENAI_API_KEY',
  'GEMINI_API_KEY',
] as const;

export interface UsageOptions {
  gateway?: string;
  json?: boolean;
}

export interface UsageResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Fetches and renders the view; never prints the key. */
export async function fetchUsage(
  opts: UsageOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<UsageResult> {
  const gateway = (
    opts.gateway ??
    env.PORTCULLIS_URL ??
    env.ANTHROPIC_BASE_URL ??
    'http://127.0.0.1:8080'
  ).replace(/\/+$/, '');
  const variable = KEY_VARIABLES.find((v) => (env[v] ?? '') !== '');
  if (variable === undefined) {
    return {
      exitCode: 2,
      stdout: '',
      stderr: `portcullis usage: no key found; set PORTCULLIS_API_KEY (or the variable your agent uses: ${KEY_VARIABLES.slice(1).join(', ')})\n`,
    };
  }
  let res: Response;
  try {
    res = await fetch(`${gateway}/portcullis/v1/usage`, {
      headers: { authorization: `Bearer ${env[variable]}` },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const reason = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    return {
      exitCode: 3,
      stdout: '',
      stderr: `portcullis usage: cannot reach the gateway at ${gateway} (${reason}); set --gateway or PORTCULLIS_URL\n`,
    };
  }
  const text = await res.text();
  let body: (UsageView & { key?: string; owner?: string; team?: string }) | { error?: { message?: string } };
  try {
    body = JSON.parse(text);
  } catch {
    return {
      exitCode: 3,
      stdout: '',
      stderr: `portcullis usage: ${gateway} answered ${res.status} with no usage view\n`,
    };
  }
  if (!res.ok) {
    const message = 'error' in body ? (body.error?.message ?? '') : '';
    return {
      exitCode: res.status === 401 || res.status === 403 ? 1 : 3,
      stdout: '',
      stderr: `portcullis usage: ${res.status} ${message} (key from ${variable})\n`,
    };
  }
  if (opts.json) return { exitCode: 0, stdout: `${JSON.stringify(body, null, 2)}\n`, stderr: '' };
  const view = body as UsageView & { key?: string; owner?: string; team?: string };
  const head = `Key ${view.key} (${view.owner}, team ${view.team}) at ${gateway}\n`;
  return { exitCode: 0, stdout: head + formatUsageView(view), stderr: '' };
}

/** The command as the CLI table runs it. */
export async function usage(_args: string[], options: Record<string, unknown>): Promise<number> {
  const r = await fetchUsage({
    gateway: typeof options.gateway === 'string' ? options.gateway : undefined,
    json: options.json === true,
  });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.exitCode;
}
