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
       *
       * Items: A copy of every audit record, in hash-chain order, for a SIEM. Delivery resumes from where it stopped, so an outage loses nothing.
       */
      sinks?: {
        type: 'jsonl' | 'http';
        /**
         * Stable name for metrics and the delivery cursor; derived when absent.
         */
        name?: string;
        /**
         * jsonl: file path, relative to the data directory.
         */
        path?: string;
        /**
         * jsonl: rotate before the file passes this size (0: never).
         */
        maxBytes?: number;
        /**
         * jsonl: also rotate when the UTC day changes.
         */
        daily?: boolean;
        /**
         * jsonl: rotated files kept.
         */
        keep?: number;
        /**
         * http: collector URL (no credentials in the URL).
         */
        url?: string;
        /**
         * http: request headers, values from environment variables.
         */
        headers?: {
          [k: string]:
            | {
                fromEnv: string;
                /**
                 * Text before the value, e.g. 'Bearer '.
                 */
                prefix?: string;
              }
            | undefined;
        };
        /**
         * http: records per POST.
         */
        batchSize?: number;
        /**
         * http: timeout per POST.
         */
        timeoutMs?: number;
        /**
         * http: body format.
         */
        format?: 'ndjson' | 'json';
        /**
         * First retry delay, doubled per failure.
         */
        retryBaseMs?: number;
        /**
         * Longest retry delay.
         */
        retryMaxMs?: number;
      }[];
    };
  };
}
