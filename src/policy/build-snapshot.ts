// The policy plane end to end: load → validate → cross-check → compile → Snapshot. Slow work
// happens here, never on the request path; a failure leaves nothing behind and throws every problem.

import { compileChain, GuardrailChainError } from '../guardrails/index.ts';
import { compileRego, RegoCompileError, readRegoSources } from './compile.ts';
import { defaultCredentialDetector } from './credentials.ts';
import { crossCheck } from './crosscheck.ts';
import { regoMayReadKeys } from './data-needs.ts';
import { DEFAULT_DECISION_BUDGET_MS, IsolatedDecider } from './isolated-decider.ts';
import { type LoadedDocument, loadPolicyDocuments, positionOf } from './load.ts';
import { pricedModelId } from './models.ts';
import { PolicyInvalidError, type PolicyProblem } from './problems.ts';
import { dataDocument, resolvePolicy } from './resolve.ts';
import { describeRevision } from './revision.ts';
import type { PolicyDocument, PolicySource, ProviderApi, ResolvedProvider, Snapshot } from './snapshot.ts';
import { offsetOf, validateDocument } from './validate.ts';

export interface BuildOptions {
  dir: string;
  /** Revision and commit metadata when the caller knows them (git sync); else derived from `dir`. */
  source?: PolicySource;
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Policy already compiled to Wasm (a verified bundle's): skips the OPA CLI. */
  wasm?: Buffer;
  detectCredential?: (text: string) => string | undefined;
}

/** Load, validate and cross-check a policy directory; every problem at once. */
export function checkPolicy(
  dir: string,
  detectCredential: ((text: string) => string | undefined) | undefined = defaultCredentialDetector,
) {
  const { documents, problems } = loadPolicyDocuments(dir);
  const schemaProblems: PolicyProblem[] = documents.flatMap(validateDocument);
  const valid = schemaProblems.length === 0 ? documents : [];
  const crossProblems = schemaProblems.length === 0 ? crossCheck(valid, { detectCredential }) : [];
  const chainProblems = valid.flatMap(chainProblem);
  return { documents, problems: [...problems, ...schemaProblems, ...crossProblems, ...chainProblems] };
}

/** Compiles a GuardrailChain as the gateway will, so a rule that cannot run (say, a regex open to catastrophic backtracking) rejects the revision, pointing at its step. */
function chainProblem(doc: LoadedDocument): PolicyProblem[] {
  if (doc.value.kind !== 'GuardrailChain') return [];
  try {
    compileChain(doc.value, { cache: false });
    return [];
  } catch (err) {
    if (!(err instanceof GuardrailChainError)) throw err;
    const path = err.step === undefined ? ['spec'] : ['spec', 'steps', err.step];
    const message = err.message.replace(/^GuardrailChain [^:]*: /, '');
    return [{ file: doc.file, ...positionOf(doc, offsetOf(doc, path)), message }];
  }
}

export async function buildSnapshot(options: BuildOptions): Promise<Snapshot> {
  const { dir } = options;
  const { documents, problems } = checkPolicy(dir, options.detectCredential ?? defaultCredentialDetector);
  if (problems.length > 0) throw new PolicyInvalidError(problems);
  const source = options.source ?? (await describeRevision(dir));
  const policy = resolvePolicy(documents, options.env);
  const rego = readRegoSources(dir);
  const data = dataDocument(policy, source.revision, { withKeys: regoMayReadKeys(rego) });
  let compiled: Pick<Awaited<ReturnType<typeof compileRego>>, 'wasm'>;
  try {
    compiled = options.wasm
      ? { wasm: options.wasm }
      : await compileRego(rego, {
          revision: source.revision,
          cacheDir: options.cacheDir,
        });
  } catch (err) {
    if (err instanceof RegoCompileError) throw new PolicyInvalidError(err.problems);
    throw err;
  }
  const decider = await IsolatedDecider.start(compiled.wasm, data, {
    budgetMs: decisionBudgetMs(options.env),
    meter: (options.env ?? process.env).PORTCULLIS_DECISIONS_IN_WORKER !== '1',
    fuelPerMs: positive((options.env ?? process.env).PORTCULLIS_DECISION_FUEL_PER_MS),
  });

  const byApi = new Map<ProviderApi, ResolvedProvider[]>();
  for (const p of policy.providers.values()) byApi.set(p.api, [...(byApi.get(p.api) ?? []), p]);

  return {
    revision: source.revision,
    source,
    builtAt: Date.now(),
    gateway: policy.gateway,
    keys: policy.keys,
    keysByHash: policy.keysByHash,
    teams: policy.teams,
    providers: policy.providers,
    documents: withoutKeyDocuments(policy.documents),
    providerFor(api, model) {
      const candidates = byApi.get(api) ?? [];
      return candidates.find((p) => pricedModelId(p.models, model) !== undefined) ?? candidates[0];
    },
    evaluate: decider.evaluate,
    decider,
  };
}

/**
 * The documents a snapshot keeps, less the VirtualKeys: `keys` holds what the data plane reads of
 * them, and with 10,000 keys their documents were ~6.6 MB of a serving process's live heap.
 */
function withoutKeyDocuments(
  documents: ReadonlyMap<string, ReadonlyMap<string, PolicyDocument>>,
): ReadonlyMap<string, ReadonlyMap<string, PolicyDocument>> {
  return new Map([...documents].filter(([kind]) => kind !== 'VirtualKey'));
}

/** `PORTCULLIS_DECISION_BUDGET_MS`: how long one decision may take before its call is refused. */
export function decisionBudgetMs(env: NodeJS.ProcessEnv = process.env): number {
  return positive(env.PORTCULLIS_DECISION_BUDGET_MS) ?? DEFAULT_DECISION_BUDGET_MS;
}

function positive(text: string | undefined): number | undefined {
  const value = Number(text);
  return text !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
}
