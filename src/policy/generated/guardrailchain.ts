// Generated from schemas/ by scripts/generate-types.ts — do not edit; run `npm run types:generate`.

/**
 * One detector with its parameters, where it applies and what it asks for.
 */
export type GuardrailStep = SecretsStep | PiiStep | RegexStep | SizeStep | ExternalStep | GitleaksStep;
/**
 * Which side of the call this step scans: the request sent to the provider, the response coming back (streamed or not), or both.
 */
export type GuardrailStage = 'request' | 'response' | 'both';
/**
 * What this step asks for when it finds something: refuse the call, replace each finding with [REDACTED:<rule>] before forwarding, or only record it. The Rego policy makes the final call.
 */
export type GuardrailAction = 'block' | 'redact' | 'log';
/**
 * Free text for reviewers: why this step exists.
 */
export type StepDescription = string;
/**
 * A secret rule id (`aws_access_key_id`) or a glob over ids (`github_*`, `*_api_key`).
 */
export type RuleSelector = string;

/**
 * An ordered list of detectors run over what a coding agent sends to (and receives from) a model provider: credentials, personal data, custom patterns, size limits and external checks. Keys and teams refer to a chain by name.
 */
export interface GuardrailChain {
  /**
   * Schema version of this document.
   */
  apiVersion: 'portcullis.dev/v1';
  /**
   * Kind of this document.
   */
  kind: 'GuardrailChain';
  /**
   * Identity of the object. `name` is its id, unique within its kind.
   */
  metadata: {
    /**
     * Id: lower-case letters, digits, '.', '_' and '-', at most 63 characters. Findings carry it as `chain`.
     */
    name: string;
    /**
     * What this chain is for, in a sentence or two.
     */
    description?: string;
    /**
     * Free-form key/value labels (owner, environment, …).
     */
    labels?: {
      [k: string]: string | undefined;
    };
  };
  /**
   * What the chain runs.
   */
  spec: {
    /**
     * Steps in the order they run. Every step runs, even after an earlier one asked to block: the policy sees all findings and decides (findings carry the step index).
     *
     * @minItems 1
     * @maxItems 50
     */
    steps: [GuardrailStep, ...GuardrailStep[]];
  };
}
/**
 * Credentials in their real formats (cloud, VCS/CI, LLM providers, chat, payment and SaaS tokens, private key blocks, JWTs, connection strings with passwords) and generic high-entropy assignments such as `password = "…"`. Findings have type `secret`.
 */
export interface SecretsStep {
  /**
   * Detector family of this step.
   */
  detector: 'secrets';
  stage?: GuardrailStage;
  action: GuardrailAction;
  description?: StepDescription;
  /**
   * Which rules run; all of them when absent. `exclude` applies after `include`.
   */
  rules?: {
    /**
     * Only rules matching one of these ids or globs run.
     *
     * @minItems 1
     */
    include?: [RuleSelector, ...RuleSelector[]];
    /**
     * Rules matching one of these ids or globs do not run.
     *
     * @minItems 1
     */
    exclude?: [RuleSelector, ...RuleSelector[]];
  };
  /**
   * Shannon entropy (bits per character) that a value in a generic assignment (`password = …`, `api_key: …`, bearer tokens) must reach to count; short values need proportionally less. Higher means fewer findings.
   */
  minEntropy?: number;
}
/**
 * Personal data, each kind checked by a validator so code, version strings, hashes and UUIDs do not trip it. Findings have type `pii`.
 */
export interface PiiStep {
  /**
   * Detector family of this step.
   */
  detector: 'pii';
  stage?: GuardrailStage;
  action: GuardrailAction;
  description?: StepDescription;
  /**
   * Kinds to look for: email addresses; phone numbers (E.164 with a leading +, North American and 0-trunk national formats with separators); US social security numbers (valid area/group/serial); payment card numbers (known issuer ranges, Luhn checksum); IBANs (country length, mod-97 checksum); public IPv4/IPv6 addresses.
   *
   * @minItems 1
   */
  types: [
    'email' | 'phone' | 'ssn' | 'payment_card' | 'iban' | 'ip_address',
    ...('email' | 'phone' | 'ssn' | 'payment_card' | 'iban' | 'ip_address')[]
  ];
  /**
   * Also report loopback, private (RFC 1918, unique-local), link-local, documentation and other reserved addresses. Off by default: they identify no one.
   */
  includePrivateIps?: boolean;
}
/**
 * Your own patterns, compiled when the policy loads. Patterns that can backtrack catastrophically (nested quantifiers, overlapping alternatives or adjacent overlapping repeats) are refused. Findings have type `custom`.
 */
export interface RegexStep {
  /**
   * Detector family of this step.
   */
  detector: 'regex';
  stage?: GuardrailStage;
  action: GuardrailAction;
  description?: StepDescription;
  /**
   * The patterns; each match is one finding named after its rule.
   *
   * @minItems 1
   * @maxItems 200
   */
  rules: [RegexRule, ...RegexRule[]];
}
/**
 * One named JavaScript regular expression.
 */
export interface RegexRule {
  /**
   * Rule id in snake_case; findings carry it as `rule`.
   */
  name: string;
  /**
   * JavaScript regular expression source, without slashes. A named group `secret` narrows what is reported and redacted to that part of the match.
   */
  pattern: string;
  /**
   * Any of i (ignore case), m (multi-line anchors), s (dot matches newlines), u (Unicode). The scanner adds its own g/d/y.
   */
  flags?: string;
  /**
   * What the pattern catches.
   */
  description?: string;
}
/**
 * Limits on how much text a call carries: the UTF-8 bytes of every scanned text (prompt, tool calls and results; not images), and a token estimate of bytes ÷ 4 (a deliberately rough, tokenizer-free figure). Findings have type `size`. Set at least one of the two limits.
 */
export interface SizeStep {
  /**
   * Detector family of this step.
   */
  detector: 'size';
  stage?: GuardrailStage;
  action: GuardrailAction;
  description?: StepDescription;
  /**
   * Largest total of UTF-8 bytes across the scanned texts.
   */
  maxBytes?: number;
  /**
   * Largest estimated token count, estimated as ceil(bytes / 4).
   */
  maxTokens?: number;
}
/**
 * An HTTP service of your own: it receives the texts with their paths as JSON and answers with findings. Findings have type `external`.
 */
export interface ExternalStep {
  /**
   * Detector family of this step.
   */
  detector: 'external';
  stage?: GuardrailStage;
  action: GuardrailAction;
  description?: StepDescription;
  /**
   * Endpoint the texts are POSTed to.
   */
  url: string;
  /**
   * How long to wait for the whole answer, in milliseconds.
   */
  timeoutMs?: number;
  /**
   * When the service times out, errs or answers nonsense: `closed` adds a blocking finding `external_unavailable`, `open` lets the call through and reports the error.
   */
  failMode?: 'open' | 'closed';
  /**
   * Headers sent with each call. Values come from the gateway process environment, never from the policy repository.
   *
   * @maxItems 20
   */
  headers?: ExternalHeader[];
}
/**
 * One header whose value is read from an environment variable.
 */
export interface ExternalHeader {
  /**
   * Header name, e.g. `authorization`.
   */
  name: string;
  /**
   * Environment variable holding the value.
   */
  fromEnv: string;
}
/**
 * A Gitleaks rule pack a platform team already keeps (gitleaks.toml, v8 format), imported as is: its rules (regex, secretGroup, entropy, keywords) and allowlists (regexes with their regexTarget, stopwords, condition; global and per rule). Path and commit allowlists have no meaning for a model call and are ignored, as are rules that only match file paths. Regexes are translated from Go syntax and refused, naming the rule, when they could backtrack catastrophically. Findings have type `secret` and carry the Gitleaks rule id.
 */
export interface GitleaksStep {
  /**
   * Detector family of this step.
   */
  detector: 'gitleaks';
  stage?: GuardrailStage;
  action: GuardrailAction;
  description?: StepDescription;
  /**
   * The Gitleaks configuration, TOML text (paste the file under `config: |`).
   */
  config: string;
  /**
   * Gitleaks rule ids not to run (say, one whose regex is refused as unsafe).
   *
   * @minItems 1
   */
  exclude?: [string, ...string[]];
}
