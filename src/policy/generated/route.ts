// Generated from schemas/ by scripts/generate-types.ts — do not edit; run `npm run types:generate`.

/**
 * Where calls for a model go: aliases (the model asked for served by another, possibly through another provider's wire format), weighted deployments, fallbacks with bounded retries, and a circuit breaker per target.
 */
export interface Route {
  /**
   * Schema version of this document.
   */
  apiVersion: 'portcullis.dev/v1';
  kind: 'Route';
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
     * Among routes matching a call, the lowest priority wins; ties go to the route with the alphabetically first name.
     */
    priority?: number;
    /**
     * Which calls take this route.
     */
    match: {
      /**
       * Model names or globs (`claude-opus-*`) as the client asks for them.
       *
       * @minItems 1
       * @maxItems 100
       */
      models: [string, ...string[]];
      /**
       * API surfaces the call may arrive on; all when absent.
       */
      surfaces?: ('anthropic.messages' | 'openai.chat' | 'openai.responses' | 'gemini.generate')[];
      /**
       * Keys of these teams (or their sub-teams); everyone when absent.
       */
      teams?: string[];
      /**
       * These virtual keys; everyone when absent.
       */
      keys?: string[];
    };
    /**
     * Deployments serving the route, chosen by weight; the others are tried next when one fails.
     *
     * @minItems 1
     * @maxItems 20
     */
    targets: [
      {
        /**
         * A Provider's name.
         */
        provider: string;
        /**
         * The model to ask that provider for (it must be priced in the Provider's models); absent: the model the client asked for.
         */
        model?: string;
        /**
         * Share of calls among the targets (load balancing); 0 keeps a target for fallback only.
         */
        weight?: number;
      },
      ...{
        /**
         * A Provider's name.
         */
        provider: string;
        /**
         * The model to ask that provider for (it must be priced in the Provider's models); absent: the model the client asked for.
         */
        model?: string;
        /**
         * Share of calls among the targets (load balancing); 0 keeps a target for fallback only.
         */
        weight?: number;
      }[]
    ];
    /**
     * Tried in order once the targets have failed.
     *
     * @maxItems 20
     */
    fallbacks?: {
      /**
       * A Provider's name.
       */
      provider: string;
      /**
       * The model to ask that provider for (it must be priced in the Provider's models); absent: the model the client asked for.
       */
      model?: string;
      /**
       * Share of calls among the targets (load balancing); 0 keeps a target for fallback only.
       */
      weight?: number;
    }[];
    /**
     * When and how often a failed attempt moves on to the next target.
     */
    retry?: {
      /**
       * Failures that move on to the next target. Other errors are returned as they are.
       */
      on?: ('429' | '5xx' | 'timeout' | 'connection')[];
      /**
       * Attempts in all, the first included.
       */
      maxAttempts?: number;
      /**
       * Wait before the second attempt, doubled for each further one (with jitter), never past maxBackoffMs or an upstream retry-after.
       */
      backoffMs?: number;
      maxBackoffMs?: number;
    };
    /**
     * Stops sending to a target that keeps failing, for a while.
     */
    circuitBreaker?: {
      /**
       * Consecutive failures that open the circuit.
       */
      failures?: number;
      /**
       * How long an open circuit skips the target before one trial call.
       */
      cooldownMs?: number;
    };
    /**
     * How calls are carried to a target that speaks another wire format.
     */
    translation?: {
      /**
       * False: only targets speaking the client's own format serve this route.
       */
      allowed?: boolean;
      /**
       * Tools only the client's provider runs (OpenAI web_search, Anthropic server tools): refuse the call, or leave them out (reported in a response header and the audit record).
       */
      hostedTools?: 'refuse' | 'drop';
      /**
       * Which OpenAI API a translated call uses.
       */
      openaiSurface?: 'responses' | 'chat';
    };
  };
}
