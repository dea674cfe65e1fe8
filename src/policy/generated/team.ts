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
      /**
       * Model globs (e.g. `claude-opus-*`): the budget counts only calls on a matching model. Absent: every model.
       *
       * @minItems 1
       * @maxItems 50
       */
      models?: [string, ...string[]];
      /**
       * Provider ids: the budget counts only calls to these providers. Absent: every provider.
       *
       * @minItems 1
       * @maxItems 50
       */
      providers?: [string, ...string[]];
      /**
       * `strict` (default) reserves each call's worst case, so admitted calls never take spend past the amount. `expected` reserves the call's expected cost so the whole budget can be spent; spend may pass the amount by at most what the calls in flight cost beyond their expectation, reported in the audit log and metrics.
       */
      mode?: 'strict' | 'expected';
      /**
       * `hard` (default) refuses calls the budget cannot cover; `soft` lets them through with a warning header and an alert.
       */
      enforcement?: 'hard' | 'soft';
      /**
       * Percentages of the amount at which an alert is sent to the Gateway's alert channels, once per threshold and period (e.g. [50, 80, 100]).
       *
       * @minItems 1
       * @maxItems 10
       */
      alertAt?: [number, ...number[]];
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
     * Per-model or per-provider rate limits, each on top of `rateLimits`.
     *
     * @maxItems 20
     *
     * Items: Rate limits that count only the calls on some models or providers.
     */
    modelRateLimits?: {
      /**
       * Identifies the limit's counters; renaming it starts new counters.
       */
      name: string;
      /**
       * Model globs whose calls this limit counts.
       *
       * @minItems 1
       * @maxItems 50
       */
      models?: [string, ...string[]];
      /**
       * Provider ids whose calls this limit counts.
       *
       * @minItems 1
       * @maxItems 50
       */
      providers?: [string, ...string[]];
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
    }[];
    /**
     * Output ceilings the gateway enforces on each call's max tokens. Budgets then reserve at most this much output instead of what the agent asks for. The lowest matching cap of the key and its teams applies.
     *
     * @maxItems 20
     *
     * Items: A ceiling on the output a call may ask for.
     */
    outputCaps?: {
      /**
       * Model globs the cap applies to; absent: every model.
       *
       * @minItems 1
       * @maxItems 50
       */
      models?: [string, ...string[]];
      /**
       * Most output tokens a call may ask for; a larger request (or one that names no limit) is lowered to this before forwarding.
       */
      maxOutputTokens: number;
    }[];
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
        /**
         * Model globs (e.g. `claude-opus-*`): the budget counts only calls on a matching model. Absent: every model.
         *
         * @minItems 1
         * @maxItems 50
         */
        models?: [string, ...string[]];
        /**
         * Provider ids: the budget counts only calls to these providers. Absent: every provider.
         *
         * @minItems 1
         * @maxItems 50
         */
        providers?: [string, ...string[]];
        /**
         * `strict` (default) reserves each call's worst case, so admitted calls never take spend past the amount. `expected` reserves the call's expected cost so the whole budget can be spent; spend may pass the amount by at most what the calls in flight cost beyond their expectation, reported in the audit log and metrics.
         */
        mode?: 'strict' | 'expected';
        /**
         * `hard` (default) refuses calls the budget cannot cover; `soft` lets them through with a warning header and an alert.
         */
        enforcement?: 'hard' | 'soft';
        /**
         * Percentages of the amount at which an alert is sent to the Gateway's alert channels, once per threshold and period (e.g. [50, 80, 100]).
         *
         * @minItems 1
         * @maxItems 10
         */
        alertAt?: [number, ...number[]];
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
       * Per-model or per-provider rate limits, each on top of `rateLimits`.
       *
       * @maxItems 20
       *
       * Items: Rate limits that count only the calls on some models or providers.
       */
      modelRateLimits?: {
        /**
         * Identifies the limit's counters; renaming it starts new counters.
         */
        name: string;
        /**
         * Model globs whose calls this limit counts.
         *
         * @minItems 1
         * @maxItems 50
         */
        models?: [string, ...string[]];
        /**
         * Provider ids whose calls this limit counts.
         *
         * @minItems 1
         * @maxItems 50
         */
        providers?: [string, ...string[]];
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
      }[];
      /**
       * Output ceilings the gateway enforces on each call's max tokens. Budgets then reserve at most this much output instead of what the agent asks for. The lowest matching cap of the key and its teams applies.
       *
       * @maxItems 20
       *
       * Items: A ceiling on the output a call may ask for.
       */
      outputCaps?: {
        /**
         * Model globs the cap applies to; absent: every model.
         *
         * @minItems 1
         * @maxItems 50
         */
        models?: [string, ...string[]];
        /**
         * Most output tokens a call may ask for; a larger request (or one that names no limit) is lowered to this before forwarding.
         */
        maxOutputTokens: number;
      }[];
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
