// The semantic diff as a pull-request comment (Markdown, risks first) or as JSON for tooling.
import type { PolicyChange } from './semantic-diff.ts';

export interface DiffLabels {
  base: string;
  head: string;
}

const bullet = (c: PolicyChange) => `- ${c.risk ? '⚠️ ' : ''}${escapeMd(c.summary)}`;

/** Markdown control characters in policy text are escaped so names cannot restyle the comment. */
export function escapeMd(text: string): string {
  return text.replace(/[\\`*_[\]<>|#]/g, (ch) => `\\${ch}`);
}

export function diffMarkdown(changes: PolicyChange[], labels: DiffLabels): string {
  const lines = [`### Policy changes \`${labels.base}\` → \`${labels.head}\``, ''];
  if (changes.length === 0) {
    lines.push('No policy changes.');
    return `${lines.join('\n')}\n`;
  }
  const risky = changes.filter((c) => c.risk);
  if (risky.length > 0) {
    lines.push(
      `**⚠️ ${risky.length} of ${changes.length} change${changes.length === 1 ? '' : 's'} widen access or weaken a guardrail — review these:**`,
      '',
      ...risky.map(bullet),
      '',
    );
  } else {
    lines.push(
      `✅ ${changes.length} change${changes.length === 1 ? '' : 's'}; none widens access or weakens a guardrail.`,
      '',
    );
  }
  const byObject = new Map<string, PolicyChange[]>();
  for (const c of changes) {
    const id = c.kind === 'Rego' ? 'Rego' : `${c.kind} ${c.name}`;
    byObject.set(id, [...(byObject.get(id) ?? []), c]);
  }
  lines.push('<details><summary>All changes by object</summary>', '');
  for (const [id, cs] of byObject) {
    lines.push(`**${escapeMd(id)}**`, '', ...cs.map(bullet), '');
  }
  lines.push('</details>');
  return `${lines.join('\n')}\n`;
}

export function diffJson(changes: PolicyChange[], labels: DiffLabels) {
  return {
    base: labels.base,
    head: labels.head,
    risky: changes.filter((c) => c.risk).length,
    changes,
  };
}
