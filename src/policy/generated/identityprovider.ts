// Generated from schemas/ by scripts/generate-types.ts — do not edit; run `npm run types:generate`.

/**
 * An OpenID Connect identity provider whose users sign in with `portcullis login` and get personal keys; its groups map to Teams and to roles on the gateway's HTTP API.
 */
export interface IdentityProvider {
  /**
   * Schema version of this document.
   */
  apiVersion: 'portcullis.dev/v1';
  kind: 'IdentityProvider';
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
     * OIDC issuer URL; discovery is read from `<issuer>/.well-known/openid-configuration`.
     */
    issuer: string;
    /**
     * Public OAuth client id the CLI signs in with (device flow, or authorization code + PKCE).
     */
    clientId: string;
    /**
     * Audience (`aud`) an access token must carry to be accepted directly as a credential, and to be exchanged for a personal key. Defaults to clientId.
     */
    audience?: string;
    /**
     * Accept the IdP's JWT access tokens directly as credentials, besides personal keys.
     */
    acceptAccessTokens?: boolean;
    /**
     * Scopes the CLI asks for; defaults to openid, email, profile, offline_access.
     */
    scopes?: string[];
    /**
     * Which token claims carry the person.
     */
    claims?: {
      /**
       * Claim with the stable user id.
       */
      subject?: string;
      /**
       * Claim with the email address.
       */
      email?: string;
      /**
       * Claim with the list of group names (dotted paths reach nested claims).
       */
      groups?: string;
    };
    /**
     * IdP groups to Teams, first match wins. A person in no listed group is refused.
     *
     * @minItems 1
     * @maxItems 1000
     */
    teams: [
      {
        /**
         * Group name as the groups claim carries it.
         */
        group: string;
        /**
         * Team whose `members` template the person gets.
         */
        team: string;
      },
      ...{
        /**
         * Group name as the groups claim carries it.
         */
        group: string;
        /**
         * Team whose `members` template the person gets.
         */
        team: string;
      }[]
    ];
    /**
     * IdP groups to roles on the gateway's HTTP API (usage, audit, keys). Changing policy is not a role: that stays with git review.
     *
     * @maxItems 1000
     */
    roles?: {
      group: string;
      /**
       * viewer: read usage. auditor: query and export audit records (and read usage). key-admin: list and revoke keys.
       *
       * @minItems 1
       */
      roles: ['viewer' | 'auditor' | 'key-admin', ...('viewer' | 'auditor' | 'key-admin')[]];
    }[];
    /**
     * Keys the gateway issues at sign-in.
     */
    personalKeys?: {
      /**
       * How long a personal key lives (`30m`, `12h`, `7d`, at most 30d). A person removed from the IdP or its groups keeps access at most this long.
       */
      lifetime?: string;
    };
  };
}
