// `portcullis policy validate|test|lint|build|eval`: the policy checks a platform team runs locally
// and in CI. Each prints plain-language problems with file:line:column; exit codes are in errors.ts.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { buildSnapshot, checkPolicy } from '../policy/build-snapshot.ts';
import { compileRego, readRegoSources } from '../policy/compile.ts';
import { defaultCredentialDetector } from '../policy/credentials.ts';
import { PolicyInvalidError } from '../policy/problems.ts';
import { ensureOptionalTool, WITHOUT_REGAL } from '../toolchain/setup.ts';
import { REGAL, requireOpa } from '../toolchain/tools.ts';
import { policyDirArg } from './args.ts';
import { CliError, EXIT, usageError } from './errors.ts';
import { decisionInputFor, parseDecisionInput } from './eval-input.ts';
import { failed, json, ok, out, warn } from './output.ts';
import type { ParsedOptions } from './program.ts';

const run = promisify(execFile);

export async function validate(args: string[], opts: ParsedOptions): Promise<number> {
  const dir = policyDirArg(args);
  const { documents, problems } = checkPolicy(dir, defaultCredentialDetector);
  let invalid = problems.length > 0 ? new PolicyInvalidError(problems) : undefined;
  if (!invalid) {
    try {
      await compileRego(readRegoSources(dir), { revision: 'validate' });
    } catch (e) {
      if (!Array.isArray((e as { problems?: unknown }).problems)) throw e;
      invalid = new PolicyInvalidError((e as PolicyInvalidError).problems);
    }
  }
  const counts: Record<string, number> = {};
  for (const d of documents) counts[d.value.kind as string] = (counts[d.value.kind as string] ?? 0) + 1;
  if (opts.json) {
    json({ dir, valid: !invalid, documents: counts, problems: invalid?.problems ?? [] });
    return invalid ? EXIT.invalid : EXIT.ok;
  }
  if (invalid) throw invalid;
  const summary = Object.entries(counts)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  ok(`${dir}: ${documents.length} documents valid (${summary}); Rego compiles to Wasm`);
  return EXIT.ok;
}

export async function test(args: string[], opts: ParsedOptions): Promise<number> {
  const rego = join(policyDirArg(args), 'rego');
  const threshold = Number(opts.threshold);
  if (!Number.isFinite(threshold) || threshold < 0 || threshold > 100)
    throw usageError(`--threshold must be a percentage, not '${opts.threshold}'`);
  const opa = requireOpa();
  const verbose = opts.verbose ? ['-v'] : [];
  const result = await run(opa, ['test', ...verbose, rego]).catch((e) => e);
  if (!opts.json) process.stdout.write(result.stdout ?? '');
  if (result.code) {
    if (opts.json) json({ passed: false, output: `${result.stdout ?? ''}${result.stderr ?? ''}` });
    else {
      process.stderr.write(result.stderr ?? '');
      failed('Rego tests failed');
    }
    return EXIT.invalid;
  }
  const cov = await run(opa, ['test', '--coverage', rego], { maxBuffer: 64 * 1024 * 1024 });
  const coverage = Number(JSON.parse(cov.stdout).coverage ?? 0);
  const enough = coverage >= threshold;
  if (opts.json) json({ passed: enough, coverage, threshold });
  else if (!enough) failed(`Rego test coverage ${coverage.toFixed(1)}% is below the ${threshold}% threshold`);
  else ok(`Rego tests pass; coverage ${coverage.toFixed(1)}% (threshold ${threshold}%)`);
  return enough ? EXIT.ok : EXIT.invalid;
}

export async function lint(args: string[], opts: ParsedOptions): Promise<number> {
  const rego = join(policyDirArg(args), 'rego');
  if (!existsSync(rego)) throw usageError(`no rego/ directory in ${resolve(rego, '..')}`);
  const opa = requireOpa();
  let problems = 0;
  const check = await run(opa, ['check', '--strict', rego]).catch((e) => e);
  if (check.code) {
    failed(`opa check --strict:\n${(check.stderr || check.stdout).trim()}`);
    problems++;
  } else ok('opa check --strict');
  const fmt = await run(opa, ['fmt', '--list', '--fail', rego]).catch((e) => e);
  if (fmt.code && fmt.stdout.trim()) {
    failed(`opa fmt: not formatted (run \`opa fmt -w ${rego}\`):\n${fmt.stdout.trim()}`);
    problems++;
  } else if (fmt.code) {
    throw new CliError(`opa fmt failed: ${(fmt.stderr || String(fmt.message)).trim().split('\n')[0]}`);
  } else ok('opa fmt');
  const regal = await ensureOptionalTool(REGAL, WITHOUT_REGAL, (line) => process.stderr.write(`${line}\n`));
  if (regal) {
    const r = await run(regal, ['lint', rego]).catch((e) => e);
    if (r.code) {
      failed(`regal lint:\n${(r.stdout || r.stderr).trim()}`);
      problems++;
    } else ok('regal lint');
  } else if (opts.requireRegal) {
    throw new CliError('Regal is required (--require-regal) but could not be installed', {
      hint: 'install it with `portcullis setup --lint`, or set REGAL_PATH=/path/to/regal',
    });
  } else {
    warn('regal lint skipped: Regal is not installed (set REGAL_PATH, or run `portcullis setup --lint`)');
  }
  return problems ? EXIT.invalid : EXIT.ok;
}

export async function build(args: string[], opts: ParsedOptions): Promise<number> {
  const dir = policyDirArg(args);
  const { buildPolicyBundle } = await import('../sync/bundle-build.ts');
  const { signingFrom } = await import('./policy-bundle.ts');
  const output = resolve(String(opts.output));
  const signing = signingFrom(opts);
  const built = await buildPolicyBundle(dir, signing);
  writeFileSync(output, built.archive);
  const signedBy = signing ? `signed, key id ${signing.keyId}` : 'unsigned';
  if (opts.json)
    json({
      bundle: output,
      revision: built.revision,
      entrypoint: 'portcullis/gateway/decision',
      signed: built.signed,
    });
  else
    ok(`built ${output} (revision ${built.revision}, entrypoint portcullis/gateway/decision, ${signedBy})`);
  return EXIT.ok;
}

export async function evaluate(args: string[], opts: ParsedOptions): Promise<number> {
  const dir = policyDirArg(args);
  const file = opts.input as string | undefined;
  if (file && (opts.key || opts.model))
    throw usageError('give either --input or --key with --model, not both');
  if (!file && !(opts.key && opts.model))
    throw usageError(
      'say which call to decide: --key ID --model MODEL [--surface openai|anthropic|gemini], or --input FILE',
      'e.g. portcullis policy eval --key bob-dev --model claude-haiku-4-5',
    );
  let given: ReturnType<typeof parseDecisionInput> | undefined;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw usageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    given = parseDecisionInput(text, file);
  }
  const snapshot = await buildSnapshot({ dir, detectCredential: defaultCredentialDetector });
  const input =
    given ??
    decisionInputFor(snapshot, {
      key: String(opts.key),
      model: String(opts.model),
      surface: opts.surface as 'openai' | 'anthropic' | 'gemini' | undefined,
      provider: opts.provider as string | undefined,
      tools: (opts.tools as string | undefined)
        ?.split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    });
  const decision = snapshot.evaluate(input);
  out(JSON.stringify({ revision: snapshot.revision, input, decision }, null, 2));
  return EXIT.ok;
}
