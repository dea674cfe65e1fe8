// Generated from schemas/ by scripts/generate-types.ts — do not edit; run `npm run types:generate`.

/**
 * A virtual key handed to a developer, agent or bot, stored only as its hash.
 */
export interface VirtualKey {
  /**
   * Schema version of this document.
   */
  apiVersion: 'portcullis.dev/v1';
  kind: 'VirtualKey';
  /**
   * Identity of the object. `name` is its id, unique within its kind.
   */
  metadata: {
    /**
     * Id: lower-case letters, digits, '.', '_' and '-', at most 63 characters.
     */
    name: string;
    description?: string;
    labels?: {
      [k: string]: string | undefined;
    };
  };
  spec: {
    /**
     * Person or system accountable for the key, e.g. an email address.
     */
    owner: string;
    /**
     * Team the key belongs to.
     */
    team: string;
    /**
     * SHA-256 of the key, `sha256:<hex>`. The key itself never enters the repository; `portcullis keys create` makes both.
     */
    keyHash: string;
    /**
     * Providers the key may use; all when absent.
     */
    providers?: string[];
    /**
     * Model globs the key may use (`*` matches any run of characters).
     *
     * @minItems 1
     */
    models: [string, ...string[]];
    /**
     * Spending ceilings; every one applies.
     *
     * @maxItems 20
     *
     * Items: A spending ceiling in USD over a calendar period.
     */
    budgets?: {
      /**
       * Optional id; budgets are otherwise identified by their period. Renaming one starts a new counter.
       */
      name?: string;
      /**
       * Ceiling in US dollars.
       */
      amountUsd: number;
      /**
       * Calendar period after which spend resets (weeks start on Monday); `total` never resets.
       */
      period: 'daily' | 'weekly' | 'monthly' | 'yearly' | 'total';
      /**
       * IANA time zone of the calendar boundaries; defaults to the Gateway's budgetTimezone.
       */
      timezone?: string;
    }[];
    /**
     * Request and token rates.
     */
    rateLimits?: {
      /**
       * Requests started in any 60-second window.
       */
      requestsPerMinute?: number;
      /**
       * Input plus output tokens in any 60-minute window.
       */
      tokensPerHour?: number;
      /**
       * Requests in progress at the same time.
       */
      maxInFlight?: number;
    };
    /**
     * GuardrailChain for this key; else the team's, else the gateway default.
     */
    guardrailChain?: string;
    /**
     * ToolScope limiting the MCP and agent tools this key may use; unrestricted when absent.
     */
    toolScope?: string;
    /**
     * Refused from this instant on.
     */
    expiresAt?: string;
    /**
     * Refused while true.
     */
    disabled?: boolean;
    /**
     * Store redacted prompts in the audit log for this key.
     */
    contentLogging?: boolean;
  };
}
