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
     * Where budget alerts (Team and VirtualKey budgets' alertAt, soft budgets) are delivered.
     */
    alerts?: {
      /**
       * Every alert goes to every channel.
       *
       * @maxItems 20
       *
       * Items: A webhook that receives budget alerts.
       */
      channels?: {
        /**
         * Names the channel in logs and metrics.
         */
        name: string;
        /**
         * slack: an incoming-webhook message ({"text": …}, also Mattermost and Rocket.Chat). json: the alert as a JSON event.
         */
        format: 'slack' | 'json';
        /**
         * The webhook URL, by reference: a Slack webhook URL is itself a secret.
         */
        url: {
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
         * HMAC-SHA256 key: each delivery carries x-portcullis-signature: t=<unix seconds>,v1=<hex HMAC of "<t>.<body>">.
         */
        signingSecret?: {
          /**
           * Name of an environment variable of the gateway process.
           */
          fromEnv?: string;
          /**
           * Path of a file holding the secret (e.g. a mounted Kubernetes secret).
           */
          fromFile?: string;
        };
      }[];
      /**
       * Alerts sent per rolling minute at most; more are dropped, logged and counted, so an alert storm stays bounded.
       */
      maxPerMinute?: number;
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
        type: 'jsonl' | 'http' | 'syslog' | 'splunk' | 'otlp' | 's3';
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
         * http: collector URL; splunk: HTTP Event Collector base URL; otlp: OTLP/HTTP logs endpoint (…/v1/logs). No credentials in the URL.
         */
        url?: string;
        /**
         * http, otlp: request headers, values from environment variables.
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
         * http, splunk, otlp, syslog: records per delivery; s3: records per object.
         */
        batchSize?: number;
        /**
         * Timeout of one delivery (connect, answer).
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
        /**
         * syslog: collector host name or address.
         */
        host?: string;
        /**
         * syslog: collector TCP port (6514 for syslog over TLS).
         */
        port?: number;
        /**
         * syslog: TLS settings (TLS is on unless enabled is false).
         */
        tls?: {
          /**
           * false: plain TCP, only on a trusted network.
           */
          enabled?: boolean;
          /**
           * PEM CA bundle of the collector's certificate (relative to the data directory).
           */
          caFile?: string;
          /**
           * Client certificate for mutual TLS.
           */
          certFile?: string;
          /**
           * Client key for mutual TLS.
           */
          keyFile?: string;
          /**
           * Name checked against the collector's certificate (default: host).
           */
          serverName?: string;
        };
        /**
         * syslog: facility (default local0).
         */
        facility?:
          | 'kern'
          | 'user'
          | 'mail'
          | 'daemon'
          | 'auth'
          | 'syslog'
          | 'lpr'
          | 'news'
          | 'uucp'
          | 'cron'
          | 'authpriv'
          | 'ftp'
          | 'local0'
          | 'local1'
          | 'local2'
          | 'local3'
          | 'local4'
          | 'local5'
          | 'local6'
          | 'local7';
        /**
         * syslog: APP-NAME (default portcullis).
         */
        appName?: string;
        /**
         * splunk: HEC token, from the environment.
         */
        token?: {
          /**
           * Name of an environment variable of the gateway process.
           */
          fromEnv: string;
        };
        /**
         * splunk: index (default: the token's).
         */
        index?: string;
        /**
         * splunk: source (default portcullis).
         */
        source?: string;
        /**
         * splunk: sourcetype (default portcullis:audit).
         */
        sourcetype?: string;
        /**
         * s3: bucket.
         */
        bucket?: string;
        /**
         * s3: region (default us-east-1).
         */
        region?: string;
        /**
         * s3: endpoint of an S3-compatible store (path-style addressing); AWS when absent.
         */
        endpoint?: string;
        /**
         * s3: object key prefix; {instance} is the gateway instance (default portcullis/audit/{instance}/).
         */
        prefix?: string;
        /**
         * s3: access key id, from the environment.
         */
        accessKeyId?: {
          /**
           * Name of an environment variable of the gateway process.
           */
          fromEnv: string;
        };
        /**
         * s3: secret access key, from the environment.
         */
        secretAccessKey?: {
          /**
           * Name of an environment variable of the gateway process.
           */
          fromEnv: string;
        };
        /**
         * s3: session token, from the environment.
         */
        sessionToken?: {
          /**
           * Name of an environment variable of the gateway process.
           */
          fromEnv: string;
        };
        /**
         * s3: longest a record waits for a full object (default 60000).
         */
        flushIntervalMs?: number;
        /**
         * s3: gzip the objects (default true).
         */
        gzip?: boolean;
      }[];
    };
    /**
     * Prometheus metrics at /metrics.
     */
    metrics?: {
      /**
       * Label requests, tokens and spend with the virtual key id, and report key budgets. Off by default: one series per key multiplies the series count by the number of keys.
       */
      perKeyLabels?: boolean;
    };
  };
}
