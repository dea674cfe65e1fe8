// Generated from schemas/ by scripts/generate-types.ts — do not edit; run `npm run types:generate`.

/**
 * An upstream MCP server whose tools the gateway offers, filtered per key.
 */
export interface McpServer {
  /**
   * Schema version of this document.
   */
  apiVersion: 'portcullis.dev/v1';
  kind: 'McpServer';
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
     * stdio: the gateway starts the command; http: Streamable HTTP at url.
     */
    transport: 'stdio' | 'http';
    /**
     * stdio: argv of the server process.
     *
     * @minItems 1
     */
    command?: [string, ...string[]];
    /**
     * stdio: environment of the server process, values by reference.
     */
    env?: {
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
    cwd?: string;
    /**
     * http: endpoint URL.
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
    timeoutMs?: number;
  };
}
