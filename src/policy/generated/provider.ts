// Generated from schemas/ by scripts/generate-types.ts — do not edit; run `npm run types:generate`.

/**
 * How long a fetched value is used (and kept through an outage of the secret manager) before it must be fetched again.
 */
export type TtlSeconds = number;

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
    [k: string]: unknown | undefined;
  } & {
    /**
     * Wire format the upstream speaks.
     */
    api: 'openai' | 'anthropic' | 'gemini';
    /**
     * Upstream base URL, e.g. https://api.openai.com. Overridden at run time by PORTCULLIS_UPSTREAM_<NAME>.
     */
    baseUrl: string;
    /**
     * Where the upstream API key comes from (Azure OpenAI: its api-key). Not needed for a cloud provider signing or fetching tokens itself.
     */
    credential?: {
      /**
       * Name of an environment variable of the gateway process.
       */
      fromEnv?: string;
      /**
       * Path of a file holding the secret (e.g. a mounted Kubernetes secret).
       */
      fromFile?: string;
      /**
       * A HashiCorp Vault (or OpenBao) KV v2 secret; the server and its auth come from the gateway's environment (VAULT_ADDR, VAULT_TOKEN or PORTCULLIS_VAULT_K8S_ROLE).
       */
      fromVault?: {
        /**
         * KV v2 mount path.
         */
        mount?: string;
        /**
         * Secret path inside the mount, e.g. llm/openai.
         */
        path: string;
        /**
         * Key inside the secret's data.
         */
        field: string;
        ttlSeconds?: TtlSeconds;
      };
      /**
       * An AWS Secrets Manager secret, read with the gateway's AWS credentials (IAM role, IRSA, environment).
       */
      fromAwsSecretsManager?: {
        /**
         * Name or ARN.
         */
        secretId: string;
        /**
         * Key of a JSON secret; absent: the whole SecretString.
         */
        field?: string;
        region?: string;
        ttlSeconds?: TtlSeconds;
      };
      /**
       * A Google Secret Manager secret version, read with the gateway's Google credentials (workload identity, ADC).
       */
      fromGcpSecretManager?: {
        /**
         * projects/P/secrets/S[/versions/V]; default version: latest.
         */
        name: string;
        /**
         * Key of a JSON secret; absent: the whole payload.
         */
        field?: string;
        ttlSeconds?: TtlSeconds;
      };
      /**
       * An Azure Key Vault secret, read with the gateway's Azure credentials (managed or workload identity, environment).
       */
      fromAzureKeyVault?: {
        /**
         * e.g. https://acme-llm.vault.azure.net
         */
        vaultUrl: string;
        name: string;
        /**
         * Key of a JSON secret; absent: the whole value.
         */
        field?: string;
        ttlSeconds?: TtlSeconds;
      };
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
    /**
     * A cloud platform serving the models, authenticated with its own scheme instead of an API key.
     */
    cloud?: {
      /**
       * Amazon Bedrock, signed with SigV4: Claude through InvokeModel / InvokeModelWithResponseStream (api: anthropic), or any model through Converse / ConverseStream (`api: converse`). Credentials: static keys by reference, else a named profile, else the default chain (environment, profile, container or instance role); `roleArn` then assumes that role.
       */
      bedrock?: {
        region: string;
        /**
         * Where a secret comes from. The policy names the place, never the secret itself.
         */
        accessKeyId?: {
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
         * Where a secret comes from. The policy names the place, never the secret itself.
         */
        secretAccessKey?: {
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
         * Where a secret comes from. The policy names the place, never the secret itself.
         */
        sessionToken?: {
          /**
           * Name of an environment variable of the gateway process.
           */
          fromEnv?: string;
          /**
           * Path of a file holding the secret (e.g. a mounted Kubernetes secret).
           */
          fromFile?: string;
        };
        profile?: string;
        roleArn?: string;
        /**
         * Anthropic beta flags this cloud accepts; a client's others are removed (and reported in a response header), with the request fields that need them.
         */
        betas?: string[];
        /**
         * invoke: Anthropic's Messages body through InvokeModel (Claude only); converse: the Converse API, for any Bedrock model (calls are translated to it).
         */
        api?: 'invoke' | 'converse';
      };
      /**
       * Google Vertex AI: Claude (api: anthropic, rawPredict / streamRawPredict) or Gemini (api: gemini). OAuth tokens from a service-account file, else Application Default Credentials, refreshed before they expire.
       */
      vertex?: {
        project: string;
        region: string;
        /**
         * A service-account key file; absent: Application Default Credentials.
         */
        credentialsFile?: string;
        /**
         * Anthropic beta flags this cloud accepts; a client's others are removed (and reported in a response header), with the request fields that need them.
         */
        betas?: string[];
      };
      /**
       * Azure OpenAI (api: openai): the model's deployment in the path, `api-version` in the query; the `api-key` from `credential`, else a Microsoft Entra ID token (a client secret by reference, else DefaultAzureCredential).
       */
      azure?: {
        apiVersion: string;
        /**
         * Deployment name by model id; a model not listed is its own deployment name.
         */
        deployments?: {
          [k: string]: string | undefined;
        };
        tenantId?: string;
        clientId?: string;
        /**
         * Where a secret comes from. The policy names the place, never the secret itself.
         */
        clientSecret?: {
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
         * Entra ID authority (sovereign clouds, tests).
         */
        authorityHost?: string;
      };
    };
  };
}
