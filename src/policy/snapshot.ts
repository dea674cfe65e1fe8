// The immutable, fully resolved view of one policy revision that the data plane reads. Built off the
// hot path by the policy plane (see build-snapshot.ts); swapped in with one reference assignment.
import type { Decision, DecisionInput } from './decision.ts';
import type { IsolatedDecider } from './isolated-decider.ts';

export type ProviderApi = 'openai' | 'anthropic' | 'gemini';
export type BudgetPeriod = 'daily' | 'weekly' | 'monthly' | 'yearly' | 'total';

export interface Budget {
  name?: string;
  amountUsd: number;
  period: BudgetPeriod;
  timezone?: string;
}

export interface RateLimits {
  requestsPerMinute?: number;
  tokensPerHour?: number;
  maxInFlight?: number;
}

export interface ModelPrice {
  id: string;
  /** USD per million tokens. */
  inputPerMTok: number;
  outputPerMTok: number;
  cachedInputPerMTok: number;
  maxOutputTokens: number;
  contextWindow?: number;
}

export interface ResolvedProvider {
  id: string;
  api: ProviderApi;
  /** Base URL after `PORTCULLIS_UPSTREAM_<ID>` overrides. */
  baseUrl: string;
  credential: { env?: string; file?: string };
  /** Extra headers sent upstream (values from env references only). */
  headers: Record<string, { env: string }>;
  models: Map<string, ModelPrice>;
  timeoutMs: number;
}

export interface ResolvedTeam {
  id: string;
  parent?: string;
  /** This team then its ancestors, nearest first. */
  lineage: string[];
  budgets: Budget[];
  rateLimits: RateLimits;
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
  contentLogging: boolean;
  labels: Record<string, string>;
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
  /** Raw validated documents by kind then name, for the parts that compile their own view. */
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
