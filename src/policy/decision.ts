// The contract between the TypeScript mechanism and the Rego decision: what the gateway tells the
// policy about a call (`DecisionInput`) and what the policy answers (`Decision`). Rego reads these
// field names, so a change here is a change to every policy repository: extend, never rename.

/** Which API surface a call came in on. */
export type Surface =
  | 'openai.chat'
  | 'openai.responses'
  | 'openai.embeddings'
  | 'openai.models'
  | 'anthropic.messages'
  | 'anthropic.count_tokens'
  | 'gemini.generate'
  | 'gemini.count_tokens'
  | 'mcp.tools_list'
  | 'mcp.tools_call';

export type AuthStatus = 'ok' | 'missing' | 'unknown' | 'expired' | 'disabled';

/** What kind of credential authenticated the call. */
export type KeyKind = 'static' | 'personal' | 'jwt';

export interface KeyFacts {
  id: string;
  owner: string;
  team: string;
  /** The team and its ancestors, nearest first. */
  teams: string[];
  providers: string[];
  models: string[];
  toolScope?: string;
  guardrailChain?: string;
  labels?: Record<string, string>;
  /** Static keys live in git; personal keys and JWTs belong to a person signed in through an IdP. */
  kind?: KeyKind;
  /** The person, for personal keys and JWTs. */
  subject?: string;
  email?: string;
  groups?: string[];
  idp?: string;
}

export interface BudgetUsage {
  /** Stable id, e.g. `key:alice-laptop:monthly` or `team:platform:monthly`. */
  id: string;
  scope: 'key' | 'team';
  owner: string;
  period: 'daily' | 'weekly' | 'monthly' | 'yearly' | 'total';
  limitUsd: number;
  /** Settled spend plus reservations in flight, in the current period. */
  usedUsd: number;
  /** What this call reserved: its worst-case cost, or its expected cost when `mode` is `expected`. */
  requestUsd: number;
  /** `expected`: admitted on expected cost, may overshoot by the calls in flight; absent = strict. */
  mode?: 'strict' | 'expected';
  /** `soft`: over the limit warns instead of refusing; absent = hard. */
  enforcement?: 'hard' | 'soft';
  /** Set when the budget counts only calls on these model globs / providers. */
  models?: readonly string[];
  providers?: readonly string[];
  /** ISO-8601 time of the next reset; absent for `total`. */
  resetsAt?: string;
  /** Whole seconds until `resetsAt`, for `retry-after`. */
  resetsInSeconds?: number;
}

export interface RateLimitUsage {
  id: string;
  scope: 'key' | 'team';
  owner: string;
  kind: 'requests_per_minute' | 'tokens_per_hour' | 'requests_in_flight';
  limit: number;
  used: number;
  /** What this call adds: 1 request, or its worst-case tokens. */
  request: number;
  /** Set when the limit counts only calls on these model globs / providers. */
  models?: readonly string[];
  providers?: readonly string[];
  resetsAt?: string;
  resetsInSeconds?: number;
}

export interface GuardrailFinding {
  rule: string;
  /** Detector family: secret, pii, custom, size, external. */
  type: string;
  stage: 'request' | 'response';
  /** Where in the provider payload, e.g. `messages[3].content[0].text`. */
  path: string;
  /** What the chain step asks for; Rego makes the final call. */
  action: 'block' | 'redact' | 'log';
  /** A salted hash of the match, never the match itself. */
  fingerprint: string;
  chain: string;
  step: number;
}

/** One place a routed call may go (a Route's target or fallback), as the policy sees it. */
export interface RouteTargetFacts {
  provider: string;
  model: string;
  /** The wire format the provider speaks, and the surface it is called on. */
  api: string;
  surface: string;
  role: 'target' | 'fallback';
  weight: number;
  /** The call is translated from the client's wire format to reach it. */
  translated: boolean;
  circuit: 'closed' | 'open' | 'half-open';
}

/** The Route a call matched: what the client asked for, and every place it may be served. */
export interface RouteFacts {
  name: string;
  requestedModel: string;
  /** Index (in `targets`) of the target tried first; -1 when every circuit is open. */
  first: number;
  targets: RouteTargetFacts[];
  maxAttempts: number;
}

export interface DecisionInput {
  surface: Surface;
  provider: string;
  model: string;
  /** The provider's price entry serving `model` (exact id, or the id a dated model extends); absent when unknown. */
  pricedModel?: string;
  stream: boolean;
  /** Tool names the request declares (agent-native tools and MCP tools alike). */
  tools: string[];
  /**
   * Tool-bearing structures in the request the gateway cannot read (a tool entry without a name, a
   * tool list where the API declares none), by path; present only when there are some. The example
   * policy refuses such a call for a key with a tool scope: those tools were never checked.
   */
  unreadableTools?: { path: string; reason: string }[];
  sizes: { bodyBytes: number; estimatedInputTokens: number; maxOutputTokens: number };
  auth: {
    status: AuthStatus;
    enforced: boolean;
    /** Why a person's credential was refused (e.g. `revoked`, `no_team`), for a message that says so. */
    reason?: string;
  };
  key: KeyFacts | null;
  session?: string;
  userAgent?: string;
  usage: { budgets: BudgetUsage[]; rateLimits: RateLimitUsage[] };
  guardrails: { findings: GuardrailFinding[] };
  /** Set for MCP calls. */
  mcp?: { server: string; tool: string };
  /** Set when a Route serves the call; `provider` and `model` are then its first target's. */
  route?: RouteFacts;
  /** Nanoseconds since the epoch; time.now_ns() in Rego reads the same clock. */
  nowNs?: number;
}

export interface Decision {
  allow: boolean;
  /** HTTP status for a denial (401, 402, 403, 429, …); 200 when allowed. */
  status: number;
  /** Machine-readable code of the first reason, e.g. `model_not_allowed`. */
  code: string;
  /** Sentences a developer reads in their agent. */
  reasons: string[];
  /** Seconds until a rate limit or budget resets, for `retry-after`. */
  retryAfterSeconds?: number;
  /** Finding fingerprints the gateway must redact before forwarding. */
  redact: string[];
  /** Declared tools to remove before forwarding. */
  stripTools: string[];
  /** Provider id to route to when the policy overrides the default. */
  route?: string;
  /** Sentences for an allowed call the caller should know about (a soft budget spent). */
  warnings?: string[];
  /** For a routed call: the indices of `input.route.targets` the call may use (others are skipped). */
  routeTargets?: number[];
}
