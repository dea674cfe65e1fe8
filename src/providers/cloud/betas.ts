// Anthropic beta flags on a cloud that accepts only some: the others are removed, with the request
// fields that only work under them, and reported so the caller can see what was left out.

/** Request fields that need a beta flag, by the flag's name without its date. */
const FIELDS_OF_BETA: Readonly<Record<string, readonly string[]>> = {
  'context-management': ['context_management'],
  effort: ['output_config'],
};

function family(beta: string): string {
  return beta.replace(/-\d{4}-\d{2}-\d{2}$/, '');
}

export interface BetaFilter {
  kept: string[];
  dropped: string[];
}

/** Splits the client's `anthropic-beta` flags by what the cloud accepts, and removes orphaned fields from `body`. */
export function filterBetas(
  header: string | undefined,
  allowed: readonly string[],
  body: Record<string, unknown>,
): BetaFilter {
  const asked = (header ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  const kept = asked.filter((b) => allowed.includes(b));
  const dropped = asked.filter((b) => !allowed.includes(b));
  const keptFamilies = new Set(kept.map(family));
  for (const [fam, fields] of Object.entries(FIELDS_OF_BETA)) {
    if (keptFamilies.has(fam)) continue;
    for (const f of fields) {
      if (f in body) {
        delete body[f];
        dropped.push(`field ${f}`);
      }
    }
  }
  return { kept, dropped };
}

/** Betas both clouds document for Claude; a Provider's `betas` replaces the list. */
export const DEFAULT_CLOUD_BETAS: readonly string[] = [
  'interleaved-thinking-2025-05-14',
  'context-1m-2025-08-07',
  'context-management-2025-06-27',
  'token-efficient-tools-2025-02-19',
  'fine-grained-tool-streaming-2025-05-14',
];
