// Generated from schemas/ by scripts/generate-types.ts — do not edit; run `npm run types:generate`.

/**
 * Global settings of the gateway. At most one per policy repository; every field has a default.
 */
export interface Gateway {
  /**
   * Schema version of this document.
   */
  apiVersion: 'portcullis.dev/v1';
  kind: 'Gateway';
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
     * Refuse inference calls that present no virtual key. Turn off only for trusted networks.
     */
    enforceAuthOnInference?: boolean;
    /**
     * IANA time zone in which daily/weekly/monthly/yearly budgets reset.
     */
    budgetTimezone?: string;
    /**
     * When the counter store or an external guardrail is unreachable: refuse calls (closed) or let them through (open).
     */
    failMode?: 'closed' | 'open';
    /**
     * Largest request body accepted, in bytes.
     */
    maxRequestBytes?: number;
    /**
     * GuardrailChain applied to keys and teams that name none.
     */
    defaultGuardrailChain?: string;
    /**
     * Where budget and rate-limit counters live.
     */
    limits?: {
      /**
       * sqlite: embedded, one gateway. redis: shared by every replica.
       */
      store?: 'sqlite' | 'redis';
      /**
       * Redis URL (may carry a password), by reference.
       */
      redisUrl?: {
        /**
         * Name of an environment variable of the gateway process.
         */
        fromEnv?: string;
        /**
         * Path of a file holding the secret (e.g. a mounted Kubernetes secret).
         */
        fromFile?: string;
      };
    };
    /**
     * Audit trail settings.
     */
    audit?: {
      /**
       * Store prompts (after redaction) for every key. Teams and keys can turn it on for themselves.
       */
      contentLogging?: boolean;
      /**
       * Where audit records are also sent.
       */
      sinks?: {
        type: 'jsonl' | 'http';
        /**
         * jsonl: file path.
         */
        path?: string;
        /**
         * jsonl: rotate after this size.
         */
        maxBytes?: number;
        /**
         * jsonl: rotated files kept.
         */
        keep?: number;
        /**
         * http: collector URL.
         */
        url?: string;
        /**
         * http: headers, values by reference.
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
        batchSize?: number;
      }[];
    };
  };
}
