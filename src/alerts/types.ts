// A budget alert: a budget's spend reached one of its thresholds in the current period.

export interface BudgetAlert {
  /** Unique per budget counter, period and threshold: the same alert is never sent twice. */
  id: string;
  /** ISO-8601 time the threshold was seen crossed. */
  time: string;
  /** The budget as Rego names it, e.g. `team:app-dev:monthly`. */
  budget: string;
  scope: 'key' | 'team';
  owner: string;
  period: string;
  /** The threshold reached, in percent of the amount. */
  thresholdPct: number;
  limitUsd: number;
  usedUsd: number;
  /** Set when the budget counts only some models or providers. */
  models?: readonly string[];
  providers?: readonly string[];
  /** `soft` budgets warn instead of refusing. */
  enforcement: 'hard' | 'soft';
  resetsAt?: string;
  /** The policy revision in force when it fired. */
  policyRevision: string;
}

/** Where alerts go, resolved from the Gateway's `alerts.channels` (secrets read, never logged). */
export interface AlertChannel {
  name: string;
  format: 'slack' | 'json';
  url: string;
  /** HMAC-SHA256 key for the `x-portcullis-signature` header (json format). */
  signingSecret?: string;
}
