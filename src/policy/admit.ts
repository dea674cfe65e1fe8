// Admission: the last gate before a built revision serves. Its own Rego tests must pass, and its
// decision must answer every canary (canary.ts) with a well-formed decision, without an error, within
// the decision budget, evaluated in the revision's own worker thread so that a runaway rule is
// stopped there instead of on the gateway's thread. Any failure is a problem that rejects the revision.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { findTool, OPA } from '../toolchain/tools.ts';
import { type Canary, recordedCanaries, syntheticCanaries } from './canary.ts';
import { decisionProblem } from './decision-shape.ts';
import type { IsolatedDecider } from './isolated-decider.ts';
import type { PolicyProblem } from './problems.ts';
import type { Snapshot } from './snapshot.ts';

const run = promisify(execFile);

export interface AdmissionOptions {
  /** The revision's policy directory (for its Rego tests). */
  dir: string;
  /** The audit log whose recent calls join the canary set. */
  auditDb?: string;
  /** Per decision; default the snapshot's decision budget. */
  budgetMs?: number;
  /** Longest the Rego tests may run (default 20 s). */
  testTimeoutMs?: number;
}

export interface AdmissionResult {
  problems: PolicyProblem[];
  canaries: number;
  /** Slowest canary decision, in ms. */
  slowestMs: number;
  tests: 'passed' | 'none' | 'skipped (no opa)';
}

/** Problems reported per rejection at most; the first ones say enough. */
const MAX_PROBLEMS = 5;
/** Further tries of a canary that overran the budget before it counts as slow. */
const RETRIES = 2;

export async function admitSnapshot(snapshot: Snapshot, options: AdmissionOptions): Promise<AdmissionResult> {
  // Canaries first: the worker stops a runaway rule at the budget, where `opa test` runs to its time-out.
  const canaries: Canary[] = [
    ...syntheticCanaries(snapshot),
    ...(options.auditDb ? recordedCanaries(snapshot, options.auditDb) : []),
  ];
  const { problems, slowestMs } = await decideCanaries(snapshot, canaries, options.budgetMs);
  if (problems.length > 0) return { problems, canaries: canaries.length, slowestMs, tests: 'none' };
  const tests = await runRegoTests(options.dir, options.testTimeoutMs ?? 20_000);
  if (Array.isArray(tests)) return { problems: tests, canaries: canaries.length, slowestMs, tests: 'passed' };
  return { problems, canaries: canaries.length, slowestMs, tests };
}

/** Evaluates every canary in the revision's worker; stops at the first time-out (the worker is gone). */
export async function decideCanaries(
  snapshot: Snapshot,
  canaries: Canary[],
  budgetMs?: number,
): Promise<{ problems: PolicyProblem[]; slowestMs: number }> {
  const decider = snapshot.decider;
  if (!decider) throw new Error('admission needs a snapshot whose decision runs in a worker');
  const budget = budgetMs ?? decider.budgetMs;
  // A decision may wait this long before the worker is stopped; one that merely overran the budget
  // is tried again, so a pause of this machine (a cold start, a busy core) does not reject a good revision.
  const hardLimit = Math.max(budget * 10, 1000);
  const problems: PolicyProblem[] = [];
  let slowestMs = 0;
  for (const canary of canaries) {
    let result = await decider.evaluateTimed(canary.input, hardLimit);
    for (let retry = 0; retry < RETRIES && result.ms > budget && !(!result.ok && result.timedOut); retry++) {
      const again = await decider.evaluateTimed(canary.input, hardLimit);
      if (again.ms < result.ms || (!again.ok && again.timedOut)) result = again;
    }
    slowestMs = Math.max(slowestMs, result.ms);
    let why: string | undefined;
    if (!result.ok && result.timedOut) {
      why = `the decision did not finish within ${hardLimit} ms (a rule that never ends?)`;
    } else if (result.ms > budget) {
      why = `the decision took ${Math.round(result.ms)} ms, over the ${budget} ms budget of a decision, in ${RETRIES + 1} tries`;
    } else if (!result.ok) {
      why = `evaluating the decision failed: ${result.error}`;
    } else {
      why = decisionProblem(result.value) ?? fuelProblem(decider, canary.input);
    }
    if (why !== undefined) {
      problems.push({ file: 'rego/', line: 1, column: 1, message: `admission, ${canary.label}: ${why}` });
      if ((!result.ok && result.timedOut) || problems.length >= MAX_PROBLEMS) break;
    }
  }
  return { problems, slowestMs };
}

/** `opa test` over the revision's `rego/`: failing tests as problems, or what happened otherwise. */
async function runRegoTests(
  dir: string,
  timeoutMs: number,
): Promise<PolicyProblem[] | 'passed' | 'none' | 'skipped (no opa)'> {
  const rego = join(dir, 'rego');
  if (!hasTests(rego)) return 'none';
  const opa = findTool(OPA);
  if (!opa) return 'skipped (no opa)';
  try {
    await run(opa, ['test', '--format', 'json', '--timeout', `${Math.ceil(timeoutMs / 1000)}s`, rego], {
      timeout: timeoutMs + 5000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return 'passed';
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; killed?: boolean; message: string };
    if (e.killed) {
      return [
        { file: 'rego/', line: 1, column: 1, message: `opa test did not finish within ${timeoutMs} ms` },
      ];
    }
    const failed = failedTests(e.stdout ?? '', dir);
    if (failed.length > 0) return failed.slice(0, MAX_PROBLEMS);
    const output = `${e.stderr ?? ''}\n${e.stdout ?? ''}`.trim().split('\n').slice(0, 3).join(' ');
    return [
      { file: 'rego/', line: 1, column: 1, message: `the policy's Rego tests fail: ${output || e.message}` },
    ];
  }
}

interface OpaTestResult {
  location?: { file: string; row: number; col: number };
  package?: string;
  name?: string;
  fail?: boolean;
  error?: { message?: string };
}

/** The failing and erroring tests in `opa test --format json` output, at their files and lines. */
function failedTests(stdout: string, dir: string): PolicyProblem[] {
  let results: OpaTestResult[];
  try {
    results = JSON.parse(stdout) as OpaTestResult[];
  } catch {
    return [];
  }
  return results
    .filter((r) => r.fail || r.error)
    .map((r) => ({
      file: r.location ? relative(dir, r.location.file) : 'rego/',
      line: r.location?.row ?? 1,
      column: r.location?.col ?? 1,
      message: r.error
        ? `Rego test ${r.package}.${r.name} errs: ${r.error.message ?? 'error'}`
        : `Rego test ${r.package}.${r.name} fails`,
    }));
}

function hasTests(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).some((f) => f.endsWith('_test.rego'));
}

/**
 * A revision decided on the gateway's thread must also decide within the fuel its budget gives there
 * (metered-evaluator.ts), or it would be quarantined on its first real call.
 */
function fuelProblem(decider: IsolatedDecider, input: unknown): string | undefined {
  if (decider.fuelUsed(input) !== Number.POSITIVE_INFINITY) return undefined;
  return `the decision needs more than the ${decider.fuel.toLocaleString('en-US')} units of fuel a ${decider.budgetMs} ms budget gives on the gateway's thread (PORTCULLIS_DECISION_BUDGET_MS)`;
}
