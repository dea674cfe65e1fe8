// GuardrailChain document → compiled chain: validated against schemas/guardrailchain.schema.json,
// every detector built (regular expressions compiled and vetted) once, off the hot path.
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Dispatcher } from 'undici';
import schema from '../../schemas/guardrailchain.schema.json' with { type: 'json' };
import { defaultScanCache, type ScanCache } from './cache.ts';
import { RegexDetector } from './custom.ts';
import type { ExternalConfig } from './external.ts';
import { createFingerprinter, type Fingerprinter } from './fingerprint.ts';
import { GitleaksDetector } from './gitleaks.ts';
import { PiiDetector, type PiiType } from './pii/detector.ts';
import { SecretsDetector, selectRules } from './secrets/detector.ts';
import type { Stage, TextDetector } from './types.ts';

export type Action = 'block' | 'redact' | 'log';
export type DetectorName = 'secrets' | 'pii' | 'regex' | 'size' | 'external' | 'gitleaks';

export interface CompiledStep {
  /** Position in `spec.steps`; findings carry it as `step`. */
  readonly index: number;
  readonly detector: DetectorName;
  readonly stages: ReadonlySet<Stage>;
  readonly action: Action;
  readonly text?: TextDetector;
  readonly size?: { maxBytes?: number; maxTokens?: number };
  readonly external?: ExternalConfig;
}

export interface CompiledChain {
  readonly name: string;
  readonly steps: readonly CompiledStep[];
  /** Per-block result cache shared across calls; undefined when disabled. */
  readonly cache: ScanCache | undefined;
  readonly fingerprint: Fingerprinter;
  /** Where external-guardrail header values are read from. */
  readonly env: Record<string, string | undefined>;
  readonly dispatcher?: Dispatcher;
  /** Characters the stream scanner carries over between deltas (longest match, bounded). */
  readonly streamWindow: number;
}

export interface CompileOptions {
  /** Result cache; the process-wide `defaultScanCache` when absent, none when `false`. */
  cache?: ScanCache | false;
  /** Salt for finding fingerprints (at least 16 bytes); a random per-process salt when absent. */
  fingerprintSalt?: string | Uint8Array;
  /** Environment for external-guardrail headers (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** undici dispatcher for external guardrails (default: undici's global one). */
  dispatcher?: Dispatcher;
}

/** A chain document that cannot be compiled; the message names the chain and the step. */
export class GuardrailChainError extends Error {
  readonly chain: string;
  readonly step?: number;
  /** Where the document came from, when it was loaded from a policy repository. */
  readonly location?: SourceLocation;
  constructor(chain: string, message: string, step?: number, location?: SourceLocation) {
    const where = location ? ` (${location.file}:${location.line})` : '';
    super(`GuardrailChain ${chain}${where}: ${message}`);
    this.name = 'GuardrailChainError';
    this.chain = chain;
    this.step = step;
    this.location = location;
  }
}

export interface SourceLocation {
  file: string;
  line: number;
  column?: number;
}

const STREAM_WINDOW_CAP = 1024;
const SCHEMA_ID = 'https://portcullis.dev/schemas/v1/guardrailchain.json';
const STEP_DEFS: Record<string, string> = {
  secrets: 'SecretsStep',
  pii: 'PiiStep',
  regex: 'RegexStep',
  size: 'SizeStep',
  external: 'ExternalStep',
  gitleaks: 'GitleaksStep',
};

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
let ajv: Ajv2020 | undefined;
function validator(ref = '') {
  if (!ajv) {
    ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
    addFormats(ajv);
    ajv.addSchema(schema);
  }
  return ajv.getSchema(`${SCHEMA_ID}${ref}`)!;
}

function describe(errors: ErrorObject[] | null | undefined): string {
  // An unexpected property (say, a literal header `value`) explains more than what is then missing.
  const e = errors?.find((x) => x.keyword === 'additionalProperties') ?? errors?.[0];
  if (!e) return 'invalid';
  const where = e.instancePath || '(document)';
  const extra =
    e.keyword === 'additionalProperties'
      ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'`
      : '';
  const allowed =
    e.keyword === 'enum' ? `: ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}` : '';
  return `${where} ${e.message}${extra}${allowed}`;
}

// Building the secrets detector (249 rules) takes a moment; chains with the same selection share one.
const secretsMemo = new Map<string, SecretsDetector>();

/**
 * Validates and compiles a GuardrailChain document (as parsed from YAML, or the policy loader's
 * document with its `location`). Throws GuardrailChainError naming the step on bad config.
 */
export function compileChain(doc: unknown, options: CompileOptions = {}): CompiledChain {
  const { location, ...bare } = (typeof doc === 'object' && doc !== null ? doc : {}) as {
    location?: SourceLocation;
    metadata?: { name?: unknown };
    spec?: { steps?: unknown };
  };
  const d = typeof doc === 'object' && doc !== null ? bare : doc;
  const name = typeof bare.metadata?.name === 'string' ? bare.metadata.name : '(unnamed)';
  const steps = Array.isArray(bare.spec?.steps) ? (bare.spec.steps as Record<string, unknown>[]) : [];
  const fail = (message: string, step?: number) => new GuardrailChainError(name, message, step, location);

  const validate = validator();
  if (!validate(d)) {
    const stepError = validate.errors?.find((e) => /^\/spec\/steps\/\d+/.test(e.instancePath));
    if (!stepError) throw fail(describe(validate.errors));
    const index = Number(/^\/spec\/steps\/(\d+)/.exec(stepError.instancePath)![1]);
    const step = steps[index];
    const def = STEP_DEFS[String(step?.detector)];
    if (!def)
      throw fail(`steps[${index}]: detector must be one of ${Object.keys(STEP_DEFS).join(', ')}`, index);
    const stepValidate = validator(`#/$defs/${def}`);
    stepValidate(step);
    const message = describe(stepValidate.errors ?? validate.errors).replace(/^\(document\)/, '');
    throw fail(`steps[${index}] (${step.detector}): ${message.trim()}`, index);
  }

  const fingerprint = createFingerprinter(options.fingerprintSalt);
  const compiled = steps.map((step, index) => {
    try {
      return compileStep(step, index, fingerprint);
    } catch (err) {
      throw fail(`steps[${index}] (${step.detector}): ${(err as Error).message}`, index);
    }
  });
  const windows = compiled.map((s) => s.text?.maxMatchLength ?? 0);
  return {
    name,
    steps: compiled,
    cache: options.cache === false ? undefined : (options.cache ?? defaultScanCache),
    fingerprint,
    env: options.env ?? process.env,
    dispatcher: options.dispatcher,
    streamWindow: Math.min(STREAM_WINDOW_CAP, Math.max(64, ...windows)),
  };
}

function compileStep(step: Record<string, unknown>, index: number, fingerprint: Fingerprinter): CompiledStep {
  const stage = (step.stage as string | undefined) ?? 'request';
  const stages = new Set<Stage>(stage === 'both' ? ['request', 'response'] : [stage as Stage]);
  const base = { index, detector: step.detector as DetectorName, stages, action: step.action as Action };
  switch (step.detector) {
    case 'secrets': {
      const rules = (step.rules ?? {}) as { include?: string[]; exclude?: string[] };
      const selected = selectRules(rules.include, rules.exclude);
      if (selected.length === 0) throw new Error('the include/exclude lists leave no rule to run');
      const minEntropy = step.minEntropy as number | undefined;
      const key = `${selected.map((r) => r.id).join(',')}|${minEntropy}|${fingerprint.saltId}`;
      let det = secretsMemo.get(key);
      if (!det) {
        det = new SecretsDetector(selected, { minEntropy, fingerprint });
        secretsMemo.set(key, det);
      }
      return { ...base, text: det };
    }
    case 'pii':
      return {
        ...base,
        text: new PiiDetector(step.types as PiiType[], {
          includePrivateIps: step.includePrivateIps as boolean | undefined,
          fingerprint,
        }),
      };
    case 'regex':
      return {
        ...base,
        text: new RegexDetector(
          step.rules as { name: string; pattern: string; flags?: string }[],
          fingerprint,
        ),
      };
    case 'gitleaks':
      return {
        ...base,
        text: new GitleaksDetector(step.config as string, {
          exclude: step.exclude as string[] | undefined,
          fingerprint,
        }),
      };
    case 'size':
      if (step.maxBytes === undefined && step.maxTokens === undefined)
        throw new Error('set maxBytes, maxTokens or both');
      return {
        ...base,
        size: {
          maxBytes: step.maxBytes as number | undefined,
          maxTokens: step.maxTokens as number | undefined,
        },
      };
    case 'external': {
      const url = new URL(step.url as string);
      if (url.username || url.password) {
        throw new Error(
          'url must not carry credentials; send them in a header read from the environment (headers: [{name, fromEnv}])',
        );
      }
      return {
        ...base,
        external: {
          url: step.url as string,
          timeoutMs: (step.timeoutMs as number | undefined) ?? 1000,
          failMode: (step.failMode as 'open' | 'closed' | undefined) ?? 'closed',
          headers: (step.headers as { name: string; fromEnv: string }[] | undefined) ?? [],
        },
      };
    }
    default:
      throw new Error(`unknown detector ${String(step.detector)}`);
  }
}
