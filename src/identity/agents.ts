// How each coding agent is pointed at the gateway with a person's key, and the managed-settings
// files a fleet-management tool pushes so that every session goes through the gateway and the
// agent's own telemetry, error reports and update checks stay off the open network. Setting names
// are those of Claude Code 2.1, Codex 0.171 and Gemini CLI 0.61.

export type AgentName = 'claude' | 'codex' | 'gemini';
export const AGENTS: readonly AgentName[] = ['claude', 'codex', 'gemini'];

/** The `portcullis` command line the agents run to get a fresh key. */
export function tokenCommand(cli: string[], gateway: string): string[] {
  return [...cli, 'token', '--gateway', gateway];
}

const quote = (s: string) => (/^[A-Za-z0-9_./:=@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export interface Launch {
  env: Record<string, string>;
  /** Arguments placed before the user's own. */
  args: string[];
  /** Files to write before the start (absolute paths). */
  files: { path: string; content: string }[];
}

const GEMINI_SETTINGS = {
  // With GOOGLE_GEMINI_BASE_URL set and no auth type chosen, Gemini CLI 0.61 refuses to start
  // ("Invalid auth method selected"): choose the API key, which carries the personal key.
  security: { auth: { selectedType: 'gemini-api-key' } },
  privacy: { usageStatisticsEnabled: false },
  telemetry: { enabled: false },
  general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
};

const CLAUDE_QUIET = {
  // Telemetry, error reporting, auto-update, /feedback: everything not needed to answer.
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_TELEMETRY: '1',
  DISABLE_ERROR_REPORTING: '1',
  DISABLE_AUTOUPDATER: '1',
  DISABLE_BUG_COMMAND: '1',
};

/**
 * Environment and arguments for `portcullis run <agent>`: the key in the agent's own variable.
 * `dir` holds files the launch needs (Gemini CLI's defaults, below the user's own settings).
 */
export function launchFor(agent: AgentName, gateway: string, key: string, dir: string): Launch {
  switch (agent) {
    case 'claude':
      return {
        env: { ANTHROPIC_BASE_URL: gateway, ANTHROPIC_AUTH_TOKEN: key, ...CLAUDE_QUIET },
        args: [],
        files: [],
      };
    case 'codex':
      return {
        env: { PORTCULLIS_API_KEY: key },
        args: [
          '-c',
          'model_provider="portcullis"',
          '-c',
          `model_providers.portcullis={ name = "Portcullis", base_url = "${gateway}/v1", env_key = "PORTCULLIS_API_KEY", wire_api = "responses" }`,
          '-c',
          'analytics.enabled=false',
          '-c',
          'feedback.enabled=false',
          '-c',
          'check_for_update_on_startup=false',
        ],
        files: [],
      };
    case 'gemini': {
      const defaults = `${dir}/gemini-system-defaults.json`;
      return {
        env: {
          GOOGLE_GEMINI_BASE_URL: gateway,
          GEMINI_API_KEY: key,
          GEMINI_CLI_SYSTEM_DEFAULTS_PATH: defaults,
          GEMINI_TELEMETRY_ENABLED: 'false',
        },
        args: [],
        files: [{ path: defaults, content: `${JSON.stringify(GEMINI_SETTINGS, null, 2)}\n` }],
      };
    }
  }
}

export interface ManagedFile {
  /** Where the agent reads it on Linux (macOS paths in `macPath`). */
  path: string;
  macPath?: string;
  content: string;
  what: string;
}

/** Managed-settings files for each agent, using `portcullis token` as the key helper where the agent has one. */
export function managedFiles(gateway: string, token: string[]): ManagedFile[] {
  const helper = token.map(quote).join(' ');
  const claude = {
    apiKeyHelper: helper,
    env: {
      ANTHROPIC_BASE_URL: gateway,
      // Ask the helper again every 10 minutes; it answers from its cache until the key nears expiry.
      CLAUDE_CODE_API_KEY_HELPER_TTL_MS: '600000',
      ...CLAUDE_QUIET,
    },
  };
  const [command, ...args] = token;
  const codex = [
    '# Managed by the platform team: every Codex session goes through Portcullis.',
    'model_provider = "portcullis"',
    'check_for_update_on_startup = false',
    '',
    '[model_providers.portcullis]',
    'name = "Portcullis"',
    `base_url = "${gateway}/v1"`,
    'wire_api = "responses"',
    'requires_openai_auth = false',
    '',
    '[model_providers.portcullis.auth]',
    `command = ${JSON.stringify(command)}`,
    `args = [${args.map((a) => JSON.stringify(a)).join(', ')}]`,
    'timeout_ms = 60000',
    'refresh_interval_ms = 600000',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[feedback]',
    'enabled = false',
    '',
    '[otel]',
    'exporter = "none"',
    '',
  ].join('\n');
  const gemini = {
    ...GEMINI_SETTINGS,
    security: { auth: { selectedType: 'gemini-api-key', enforcedType: 'gemini-api-key' } },
  };
  const profile = [
    '# Managed by the platform team: Gemini CLI has no key helper, so its key comes from the',
    '# environment; Claude Code and Codex call `portcullis token` themselves.',
    `export GOOGLE_GEMINI_BASE_URL=${quote(gateway)}`,
    `gemini() { GEMINI_API_KEY="$(${helper})" || return; GEMINI_API_KEY="$GEMINI_API_KEY" command gemini "$@"; }`,
    '',
  ].join('\n');
  return [
    {
      path: '/etc/claude-code/managed-settings.json',
      macPath: '/Library/Application Support/ClaudeCode/managed-settings.json',
      content: `${JSON.stringify(claude, null, 2)}\n`,
      what: 'Claude Code: gateway URL, apiKeyHelper, no telemetry, error reports, updates or feedback',
    },
    {
      path: '/etc/codex/managed_config.toml',
      content: codex,
      what: 'Codex: the Portcullis provider with `portcullis token` as its auth command, analytics, feedback and OTel off',
    },
    {
      path: '/etc/gemini-cli/settings.json',
      macPath: '/Library/Application Support/GeminiCli/settings.json',
      content: `${JSON.stringify(gemini, null, 2)}\n`,
      what: 'Gemini CLI: API-key auth enforced, usage statistics, telemetry and auto-update off',
    },
    {
      path: '/etc/profile.d/portcullis-gemini.sh',
      content: profile,
      what: 'Gemini CLI: gateway URL and a fresh key for each run',
    },
  ];
}
