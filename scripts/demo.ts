// `npm start`: the gateway on the example policy with embedded storage, in front of the provider
// simulator, so a newcomer without provider credentials sees governance working. It mints demo keys
// for a private copy of policies/ (the repository's keys are hashes of keys nobody holds), shows a
// few decisions, and keeps serving until Ctrl-C. A second `npm start` while one runs, or a busy port,
// is refused before anything is touched, so the running demo and its keys keep working.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describeError } from '../src/cli/errors.ts';
import { startServing, untilSignal } from '../src/cli/serve.ts';
import { Simulator } from '../src/simulator/server.ts';
import { REPO_ROOT } from '../src/toolchain/tools.ts';
import { fakeAwsKey } from '../test/fixtures/fake-credentials.ts';
import { KEY_IDS, setKeyHashes, TEST_KEYS } from '../test/fixtures/keys.ts';

const step = (line: string) => process.stderr.write(`[start] ${line}\n`);
const port = Number(process.env.PORT ?? 8080);
// PORTCULLIS_DEMO_DATA_DIR lets tests run a demo without touching a developer's own.
const dataDir = process.env.PORTCULLIS_DEMO_DATA_DIR ?? join(REPO_ROOT, '.data', 'demo');
const policyDir = join(dataDir, 'policy');
const pidFile = join(dataDir, 'demo.pid');

function refuse(message: string, hint: string): never {
  process.stderr.write(`npm start: ${message}\n${hint}\n`);
  process.exit(3);
}

function runningDemo(): { pid: number; url: string } | undefined {
  try {
    const found = JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number; url: string };
    process.kill(found.pid, 0);
    return found;
  } catch {
    return undefined;
  }
}

async function portIsFree(p: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', () => done(false));
    probe.listen(p, '127.0.0.1', () => probe.close(() => done(true)));
  });
}

if (!Number.isInteger(port) || port < 0 || port > 65535)
  refuse(`PORT=${process.env.PORT} is not a port number`, 'e.g. PORT=8181 npm start');
const other = runningDemo();
if (other)
  refuse(
    `a demo is already running (pid ${other.pid}) at ${other.url}; its keys stay valid.`,
    `Use that one, or stop it (Ctrl-C in its terminal, or kill ${other.pid}) and run npm start again.`,
  );
if (port !== 0 && !(await portIsFree(port)))
  refuse(
    `port ${port} is already in use by another program.`,
    `Pick another one: PORT=${port + 101} npm start`,
  );

step('copying the example policy with demo keys…');
rmSync(policyDir, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true });
cpSync(join(REPO_ROOT, 'policies'), policyDir, { recursive: true });
const keys = TEST_KEYS;
setKeyHashes(
  policyDir,
  Object.fromEntries(Object.entries(KEY_IDS).map(([role, id]) => [id, keys[role as keyof typeof keys]])),
);

const simulator = new Simulator({ firstByteDelayMs: 20, chunkDelayMs: 5 });
const simUrl = await simulator.listen(0);
for (const provider of ['OPENAI', 'ANTHROPIC', 'GOOGLE'])
  process.env[`PORTCULLIS_UPSTREAM_${provider}`] = simUrl;
// The simulator wants a provider key like the real APIs do; these are not secrets.
process.env.OPENAI_API_KEY ??= 'simulator-openai-key';
process.env.ANTHROPIC_API_KEY ??= 'simulator-anthropic-key';
process.env.GEMINI_API_KEY ??= 'simulator-gemini-key';

step('compiling the Rego policy to WebAssembly and starting the gateway…');
let serving: Awaited<ReturnType<typeof startServing>>;
try {
  serving = await startServing({ policyDir, port, host: '127.0.0.1', dataDir, logLevel: 'warn' });
} catch (e) {
  await simulator.close();
  const report = describeError(e);
  for (const p of report.problems ?? []) process.stderr.write(`${p}\n`);
  refuse(report.message, report.hint ?? 'Run again with PORTCULLIS_DEBUG=1 for details.');
}
const base = serving.url;
writeFileSync(pidFile, JSON.stringify({ pid: process.pid, url: base }));
const forgetPid = () => {
  if (existsSync(pidFile) && runningDemo()?.pid === process.pid) rmSync(pidFile, { force: true });
};
process.once('exit', forgetPid);

async function call(label: string, key: string | undefined, body: Record<string, unknown>) {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'anthropic-version': '2023-06-01',
  };
  if (key) headers['x-api-key'] = key;
  const res = await fetch(`${base}/v1/messages`, { method: 'POST', headers, body: JSON.stringify(body) });
  const json = (await res.json()) as { error?: { message?: string }; usage?: unknown; model?: string };
  const stripped = res.headers.get('x-portcullis-tools-stripped');
  // A route may serve the call with another model than the one asked for (policies/routes/).
  const servedBy = json.model !== undefined && json.model !== body.model ? `, served by ${json.model}` : '';
  const what = res.ok
    ? `ok${servedBy}, usage ${JSON.stringify(json.usage)}${stripped ? `, tools stripped: ${stripped}` : ''}`
    : json.error?.message;
  console.log(`  ${String(res.status).padEnd(4)} ${label}\n       ${what}`);
}

const msg = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  max_tokens: 256,
  messages: [{ role: 'user', content: 'Summarise the last commit.' }],
  ...extra,
});

console.log(`\nPortcullis is serving the example policy at ${base} (upstreams: simulator at ${simUrl})\n`);
console.log('A few calls, decided by the Rego policy compiled to WebAssembly:');
await call(
  'bob-dev (app-dev) → claude-haiku-4-5, declares Bash and Read',
  keys.member,
  msg('claude-haiku-4-5', {
    tools: [
      { name: 'Bash', description: 'run a command', input_schema: { type: 'object' } },
      { name: 'Read', description: 'read a file', input_schema: { type: 'object' } },
    ],
  }),
);
await call('bob-dev (app-dev) → claude-opus-4-8', keys.member, msg('claude-opus-4-8'));
await call('alice-principal (platform) → claude-opus-4-8', keys.principal, msg('claude-opus-4-8'));
await call('dave-former (disabled key)', keys.disabled, msg('claude-haiku-4-5'));
const leaked = fakeAwsKey();
await call(
  'bob-dev → claude-haiku-4-5, a prompt with an AWS key pasted in',
  keys.member,
  msg('claude-haiku-4-5', {
    messages: [{ role: 'user', content: `Why does this fail?\nAWS_ACCESS_KEY_ID=${leaked} aws s3 ls` }],
  }),
);
const seen = JSON.stringify(simulator.last('/v1/messages')?.body ?? {});
console.log(
  `       the provider received: ${seen.includes(leaked) ? 'THE KEY (not redacted!)' : seen.match(/AWS_ACCESS_KEY_ID=\S+/)?.[0]}`,
);
await call('no key at all', undefined, msg('claude-haiku-4-5'));

console.log(`
Demo keys for this run (new at each start; the policy copy is in ${policyDir}):
  alice-principal  ${keys.principal}
  bob-dev          ${keys.member}
  ci-review-bot    ${keys.ciBot}

Try it with Claude Code (any prompt is answered by the simulator). bob-dev may use Sonnet and Haiku:
Claude Code's default Opus is served by Sonnet 4.5 through the app-dev-defaults route
(policies/routes/agents.yaml), and a model the key may not use, such as gpt-5, is refused:
  ANTHROPIC_BASE_URL=${base} ANTHROPIC_AUTH_TOKEN=${keys.member} claude -p "hello"
  ANTHROPIC_BASE_URL=${base} ANTHROPIC_AUTH_TOKEN=${keys.member} claude -p "hello" --model gpt-5
or curl:
  curl -s ${base}/v1/chat/completions -H "authorization: Bearer ${keys.member}" \\
       -H 'content-type: application/json' -d '{"model":"gpt-5-mini","messages":[{"role":"user","content":"hi"}]}'

Status: ${base}/status   Metrics: ${base}/metrics
Audit:  npm run portcullis -- audit query --data-dir .data/demo
        npm run portcullis -- audit verify --data-dir .data/demo
Press Ctrl-C to stop.`);

await untilSignal();
await serving.close();
await simulator.close();
forgetPid();
