// Code-mode tools: a tool that runs code which calls other tools (Codex's `exec`, whose JavaScript calls
// `tools.exec_command(…)` and `tools.apply_patch(…)`). Offering it offers every tool it can call, so a
// scope that denies one of those must remove it too. The tools it can call are read from its
// description, where the agent lists them for the model.

const DECLARATION = /declare\s+const\s+tools\s*:\s*\{\s*([A-Za-z_$][\w$]*)\s*\(/g;
const HEADING = /^#{2,4}\s+`([A-Za-z_$][\w$]*)`\s*$/gm;
const CODE_MODE_HINT = /\btools\.[A-Za-z_$][\w$]*\s*\(|global `tools` object|nested tools/i;
const OPEN_ENDED = /may be omitted|deferred nested tools|tool availability can change/i;

export interface CodeModeGrants {
  /** Tools the code can call, as the description names them. */
  names: string[];
  /** The description says more tools may be callable than it lists. */
  openEnded: boolean;
}

/** The tools a code-mode tool's description says its code can call; undefined for any other tool. */
export function codeModeGrants(description: unknown): CodeModeGrants | undefined {
  if (typeof description !== 'string' || !CODE_MODE_HINT.test(description)) return undefined;
  const names = new Set<string>();
  for (const m of description.matchAll(DECLARATION)) names.add(m[1]);
  if (names.size > 0) for (const m of description.matchAll(HEADING)) names.add(m[1]);
  if (names.size === 0) return undefined;
  return { names: [...names], openEnded: OPEN_ENDED.test(description) };
}
