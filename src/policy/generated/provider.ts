// Generated from schemas/ by scripts/generate-types.ts — do not edit; run `npm run types:generate`.

/**
 * An upstream model provider, its credential reference and its priced models.
 */
export interface Provider {
  /**
   * Schema version of this document.
   */
  apiVersion: 'portcullis.dev/v1';
  kind: 'Provider';
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
     * Wire format the upstream speaks.
     */
    api: 'openai' | 'anthropic' | 'gemini';
    /**
     * Upstream base URL, e.g. https://api.openai.com. Overridden at run time by PORTCULLIS_UPSTREAM_<NAME>.
     */
    baseUrl: string;
    /**
     * Where the upstream API key comes from.
     */
    credential: {
      /**
       * Name of an environment variable of the gateway process.
       */
      fromEnv?: string;
      /**
       * Path of a file holding the secret (e.g. a mounted Kubernetes secret).
       */
      fromFile?: string;
    };
    /**
     * Extra upstream headers, values by reference.
     */
    headers?: {
      /**
       * Where a secret comes from. The policy names the place, never the secret itself.
       */
      [k: string]:
        | {
            /**
             * Name of an environment variable of the gateway process.
             */
            fromEnv?: string;
            /**
             * Path of a file holding the secret (e.g. a mounted Kubernetes secret).
             */
            fromFile?: string;
          }
        | undefined;
    };
    /**
     * Upstream timeout for headers and between body chunks.
     */
    timeoutMs?: number;
    /**
     * Models served, with prices.
     *
     * @minItems 1
     * @maxItems 1000
     */
    models: [
      {
        /**
         * Model id as the client sends it.
         */
        id: string;
        /**
         * USD per million input tokens.
         */
        inputPerMTok: number;
        /**
         * USD per million output tokens.
         */
        outputPerMTok: number;
        /**
         * USD per million cached input tokens (defaults to the input price).
         */
        cachedInputPerMTok?: number;
        /**
         * USD per million input tokens written to a 5-minute prompt cache (Anthropic cache_control); defaults to 1.25 × the input price.
         */
        cacheWrite5mPerMTok?: number;
        /**
         * USD per million input tokens written to a 1-hour prompt cache (cache_control ttl "1h"); defaults to 2 × the input price.
         */
        cacheWrite1hPerMTok?: number;
        /**
         * Largest output; used as the worst case when a request sets no max_tokens.
         */
        maxOutputTokens: number;
        /**
         * Largest input in tokens.
         */
        contextWindow?: number;
      },
      ...{
        /**
         * Model id as the client sends it.
         */
        id: string;
        /**
         * USD per million input tokens.
         */
        inputPerMTok: number;
        /**
         * USD per million output tokens.
         */
        outputPerMTok: number;
        /**
         * USD per million cached input tokens (defaults to the input price).
         */
        cachedInputPerMTok?: number;
        /**
         * USD per million input tokens written to a 5-minute prompt cache (Anthropic cache_control); defaults to 1.25 × the input price.
         */
        cacheWrite5mPerMTok?: number;
        /**
         * USD per million input tokens written to a 1-hour prompt cache (cache_control ttl "1h"); defaults to 2 × the input price.
         */
        cacheWrite1hPerMTok?: number;
        /**
         * Largest output; used as the worst case when a request sets no max_tokens.
         */
        maxOutputTokens: number;
        /**
         * Largest input in tokens.
         */
        contextWindow?: number;
      }[]
    ];
  };
}
