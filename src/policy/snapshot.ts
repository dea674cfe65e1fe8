// The immutable, fully resolved view of one policy revision that the data plane reads. Built off the
// hot path by the policy plane (see build-snapshot.ts); swapped in with one reference assignment.
import type { SecretRef as ManagedSecretRef } from '../secrets/types.ts';
import type { Decision, DecisionInput } from './decision.ts';
import type { Provider } from './generated/index.ts';
import type { IsolatedDecider } from './isolated-decider.ts';

export type ProviderApi = 'openai' | 'anthropic' | 'gemini';
export type BudgetPeriod = 'daily' | 'weekly' | 'monthly' | 'yearly' | 'total';

export interface Budget {
  name?: string;
  amountUsd: number;
  period: BudgetPeriod;
  timezone?: string;
  /** Model globs / provider ids whose calls the budget counts; absent = every call. */
  models?: string[];
  providers?: string[];
  mode?: 'strict' | 'expected';
  enforcement?: 'hard' | 'soft';
  /** Alert thresholds in percent of the amount. */
  alertAt?: number[];
}

export interface RateLimits {
  requestsPerMinute?: number;
  tokensPerHour?: number;
  maxInFlight?: number;
}

/** A ceiling on the output tokens a call may ask for, on some models (all when absent). */
export interface OutputCap {
  models?: string[];
  maxOutputTokens: number;
}

/** Rate limits that count only the calls on some models or providers. */
export interface ModelRateLimits extends RateLimits {
  name: string;
  models?: string[];
  providers?: string[];
}

export interface ModelPrice {
  id: string;
  /** USD per million tokens. */
  inputPerMTok: number;
  outputPerMTok: number;
  cachedInputPerMTok: number;
  /** Prompt-cache writes (Anthropic), 5-minute and 1-hour, USD per million tokens. */
  cacheWrite5mPerMTok: number;
  cacheWrite1hPerMTok: number;
  maxOutputTokens: number;
  contextWindow?: number;
}

export interface ResolvedProvider {
  id: string;
  api: ProviderApi;
  /** Base URL after `PORTCULLIS_UPSTREAM_<ID>` overrides. */
  baseUrl: string;
  /** `secret`: held by a secret manager, read through src/secrets' cache. */
  credential: { env?: string; file?: string; secret?: ManagedSecretRef };
  /** Extra headers sent upstream (values from env references only). */
  headers: Record<string, { env: string }>;
  models: Map<string, ModelPrice>;
  timeoutMs: number;
  /** A cloud platform's own authentication and paths (Bedrock, Vertex AI, Azure OpenAI). */
  cloud?: Provider['spec']['cloud'];
}

export interface ResolvedTeam {
  id: string;
  parent?: string;
  /** This team then its ancestors, nearest first. */
  lineage: string[];
  budgets: Budget[];
  rateLimits: RateLimits;
  modelRateLimits: ModelRateLimits[];
  outputCaps: OutputCap[];
  guardrailChain?: string;
  contentLogging: boolean;
}

export interface ResolvedKey {
  id: string;
  /** Lower-case hex SHA-256 of the key. */
  hash: string;
  owner: string;
  team: string;
  /** The key's team then its ancestors, nearest first. */
  teams: string[];
  disabled: boolean;
  /** Epoch milliseconds; undefined = never. */
  expiresAt?: number;
  providers: string[];
  /** Model globs (`claude-sonnet-*`). */
  models: string[];
  toolScope?: string;
  /** Effective chain: the key's, else its team's (nearest), else the gateway default. */
  guardrailChain?: string;
  budgets: Budget[];
  rateLimits: RateLimits;
  modelRateLimits: ModelRateLimits[];
  outputCaps: OutputCap[];
  contentLogging: boolean;
  labels: Record<string, string>;
  /** The person behind a personal key or an IdP token (src/identity); absent for static keys. */
  principal?: Principal;
}

/** Who signed in, as the identity provider said at sign-in (personal key) or in the token (JWT). */
export interface Principal {
  kind: 'personal' | 'jwt';
  /** IdentityProvider name in the policy. */
  idp: string;
  subject: string;
  email?: string;
  groups: string[];
  /** The personal key's own id (never its secret); absent for a JWT. */
  keyId?: string;
}

export interface GatewaySettings {
  enforceAuthOnInference: boolean;
  budgetTimezone: string;
  /** What to do when a dependency (counter store, external guardrail) is down. */
  failMode: 'closed' | 'open';
  limits: { store: 'sqlite' | 'redis'; redisUrl?: string };
  defaultGuardrailChain?: string;
  maxRequestBytes: number;
  audit: { contentLogging: boolean; sinks: unknown[] };
  /** Alert channels as declared: secrets stay references until the alert dispatcher reads them. */
  alerts: { channels: AlertChannelRef[]; maxPerMinute: number };
}

export interface SecretRef {
  fromEnv?: string;
  fromFile?: string;
}

export interface AlertChannelRef {
  name: string;
  format: 'slack' | 'json';
  url: SecretRef;
  signingSecret?: SecretRef;
}

export interface PolicySource {
  /** Git commit SHA, or `sha256:<content hash>` outside git. */
  revision: string;
  dir: string;
  commit?: { subject: string; author: string; time: string };
}

export interface Snapshot {
  revision: string;
  source: PolicySource;
  /** When this snapshot was built (epoch ms). */
  builtAt: number;
  gateway: GatewaySettings;
  keys: ReadonlyMap<string, ResolvedKey>;
  keysByHash: ReadonlyMap<string, ResolvedKey>;
  teams: ReadonlyMap<string, ResolvedTeam>;
  providers: ReadonlyMap<string, ResolvedProvider>;
  /**
   * Raw validated documents by kind then name, for the parts that compile their own view; all kinds
   * but VirtualKey, whose resolved form is `keys`.
   */
  documents: ReadonlyMap<string, ReadonlyMap<string, PolicyDocument>>;
  /** The provider of `api` that serves `model`, if any. */
  providerFor(api: ProviderApi, model: string): ResolvedProvider | undefined;
  evaluate(input: DecisionInput): Decision;
  /** The worker thread behind `evaluate` (absent in hand-built test snapshots): admission, faults, close. */
  decider?: IsolatedDecider;
}

export interface PolicyDocument {
  apiVersion: 'portcullis.dev/v1';
  kind: string;
  metadata: { name: string; description?: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
  /** Where it came from, for error messages. */
  location: { file: string; line: number; column: number };
}
