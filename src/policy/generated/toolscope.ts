// Generated from schemas/ by scripts/generate-types.ts — do not edit; run `npm run types:generate`.

/**
 * Which tools a key may use: MCP tools through the gateway and the agent's own tools.
 */
export interface ToolScope {
  /**
   * Schema version of this document.
   */
  apiVersion: 'portcullis.dev/v1';
  kind: 'ToolScope';
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
     * MCP tools reached through the gateway, as `server/tool` globs. Deny wins over allow; nothing is allowed unless some allow matches.
     */
    mcp?: {
      /**
       * e.g. `github/get_*`, `docs/*`.
       */
      allow?: string[];
      deny?: string[];
    };
    /**
     * Tools the agent declares itself in model requests (Claude Code's Bash, Edit, Write…; Codex's shell…). Deny wins; when allow is absent every tool not denied is allowed.
     */
    agentTools?: {
      allow?: string[];
      /**
       * e.g. `Bash`, `Write`, `mcp__*`.
       */
      deny?: string[];
    };
  };
}
