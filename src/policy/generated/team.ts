// Generated from schemas/ by scripts/generate-types.ts — do not edit; run `npm run types:generate`.

/**
 * A team or organisation. Teams form a tree through `parent`.
 */
export interface Team {
  /**
   * Schema version of this document.
   */
  apiVersion: 'portcullis.dev/v1';
  kind: 'Team';
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
     * Parent team (or org); its budgets apply to this team's keys too.
     */
    parent?: string;
    displayName?: string;
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
     * GuardrailChain for this team's keys that name none; inherited by child teams.
     */
    guardrailChain?: string;
    /**
     * Store redacted prompts in the audit log for this team's keys.
     */
    contentLogging?: boolean;
    /**
     * What each person in this team gets with a personal key (signed in through an IdentityProvider). Budgets and rate limits here apply to each member separately; the team's own budgets still cap them together.
     */
    members?: {
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
       * Spending ceilings for each member; every one applies.
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
       * Request and token rates for each member.
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
       * GuardrailChain for members' calls; else the team's, else the gateway default.
       */
      guardrailChain?: string;
      /**
       * ToolScope limiting members' MCP and agent tools; unrestricted when absent.
       */
      toolScope?: string;
      /**
       * Store redacted prompts in the audit log for members' calls.
       */
      contentLogging?: boolean;
    };
  };
}
