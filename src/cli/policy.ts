// `portcullis policy validate|test|lint|build|eval`: the policy checks a platform team runs locally
// and in CI. Each prints plain-language problems with file:line:column and exits non-zero on failure.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { buildSnapshot, checkPolicy } from '../policy/build-snapshot.ts';
import { compileRego, RegoCompileError, readRegoSources } from '../policy/compile.ts';
import { defaultCredentialDetector } from '../policy/credentials.ts';
import { formatProblem, PolicyInvalidError } from '../policy/problems.ts';
import { dataDocument, resolvePolicy } from '../policy/resolve.ts';
import { describeRevision } from '../policy/revision.ts';
import { findTool, REGAL, requireOpa, ToolMissingError } from '../toolchain/tools.ts';

const run = promisify(execFile);
const out = (s: string) => process.stdout.write(`${s}\n`);
const err = (s: string) => process.stderr.write(`${s}\n`);

function dirArg(positionals: string[]): string {
  return resolve(positionals[0] ?? 'policies');
}

function reportFailure(e: unknown): number {
  if (e instanceof PolicyInvalidError || e instanceof RegoCompileError) {
    for (const p of e.problems) err(formatProblem(p));
    err(`✗ ${e.problems.length} problem${e.problems.length === 1 ? '' : 's'}`);
    return 1;
  }
  if (e instanceof ToolMissingError) {
    err(e.message);
    return 3;
  }
  throw e;
}

export async function validate(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true });
  const dir = dirArg(positionals);
  if (!existsSync(dir)) {
    err(`no such policy directory: ${dir}`);
    return 2;
  }
  const { documents, problems } = checkPolicy(dir, defaultCredentialDetector);
  if (problems.length > 0) return reportFailure(new PolicyInvalidError(problems));
  try {
    await compileRego(readRegoSources(dir), { revision: 'validate' });
  } catch (e) {
    return reportFailure(e);
  }
  const counts = new Map<string, number>();
  for (const d of documents)
    counts.set(d.value.kind as string, (counts.get(d.value.kind as string) ?? 0) + 1);
  const summary = [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
  out(`✓ ${dir}: ${documents.length} documents valid (${summary}); Rego compiles to Wasm`);
  return 0;
}

export async function test(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { threshold: { type: 'string', default: '90' }, verbose: { type: 'boolean', short: 'v' } },
  });
  const rego = join(dirArg(positionals), 'rego');
  const threshold = Number(values.threshold);
  try {
    const opa = requireOpa();
    const verbose = values.verbose ? ['-v'] : [];
    const result = await run(opa, ['test', ...verbose, rego]).catch((e) => e);
    process.stdout.write(result.stdout ?? '');
    if (result.code) {
      process.stderr.write(result.stderr ?? '');
      err('✗ Rego tests failed');
      return 1;
    }
    const cov = await run(opa, ['test', '--coverage', rego], { maxBuffer: 64 * 1024 * 1024 });
    const coverage = Number(JSON.parse(cov.stdout).coverage ?? 0);
    if (coverage < threshold) {
      err(`✗ Rego test coverage ${coverage.toFixed(1)}% is below the ${threshold}% threshold`);
      return 1;
    }
    out(`✓ Rego tests pass; coverage ${coverage.toFixed(1)}% (threshold ${threshold}%)`);
    return 0;
  } catch (e) {
    return reportFailure(e);
  }
}

export async function lint(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'require-regal': { type: 'boolean', default: false } },
  });
  const rego = join(dirArg(positionals), 'rego');
  let failed = 0;
  try {
    const opa = requireOpa();
    const check = await run(opa, ['check', '--strict', rego]).catch((e) => e);
    if (check.code) {
      err(`✗ opa check --strict:\n${(check.stderr || check.stdout).trim()}`);
      failed++;
    } else out('✓ opa check --strict');
    const fmt = await run(opa, ['fmt', '--list', '--fail', rego]).catch((e) => e);
    if (fmt.code) {
      err(`✗ opa fmt: not formatted (run \`opa fmt -w ${rego}\`):\n${(fmt.stdout || fmt.stderr).trim()}`);
      failed++;
    } else out('✓ opa fmt');
    const regal = findTool(REGAL);
    if (regal) {
      const r = await run(regal, ['lint', rego]).catch((e) => e);
      if (r.code) {
        err(`✗ regal lint:\n${(r.stdout || r.stderr).trim()}`);
        failed++;
      } else out('✓ regal lint');
    } else if (values['require-regal']) {
      err(`✗ regal not found: set REGAL_PATH or run \`npm run setup\``);
      failed++;
    } else {
      err('! regal lint skipped: Regal is not installed (set REGAL_PATH, or run `npm run setup`)');
    }
  } catch (e) {
    return reportFailure(e);
  }
  return failed ? 1 : 0;
}

export async function build(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { output: { type: 'string', short: 'o', default: 'bundle.tar.gz' } },
  });
  const dir = dirArg(positionals);
  const { documents, problems } = checkPolicy(dir, defaultCredentialDetector);
  if (problems.length > 0) return reportFailure(new PolicyInvalidError(problems));
  try {
    const source = await describeRevision(dir);
    const data = dataDocument(resolvePolicy(documents), source.revision);
    const output = resolve(values.output);
    await compileRego(readRegoSources(dir), { revision: source.revision, bundleOut: output, data });
    out(`✓ built ${output} (revision ${source.revision}, entrypoint portcullis/gateway/decision)`);
    return 0;
  } catch (e) {
    return reportFailure(e);
  }
}

export async function evaluate(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { input: { type: 'string', short: 'i' } },
  });
  if (!values.input) {
    err('usage: portcullis policy eval [dir] --input input.json');
    return 2;
  }
  let input: unknown;
  try {
    input = JSON.parse(readFileSync(values.input, 'utf8'));
  } catch (e) {
    err(`cannot read ${values.input}: ${(e as Error).message}`);
    return 2;
  }
  try {
    const snapshot = await buildSnapshot({
      dir: dirArg(positionals),
      detectCredential: defaultCredentialDetector,
    });
    const decision = snapshot.evaluate(input as Parameters<typeof snapshot.evaluate>[0]);
    out(JSON.stringify({ revision: snapshot.revision, decision }, null, 2));
    return 0;
  } catch (e) {
    return reportFailure(e);
  }
}
