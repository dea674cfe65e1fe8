// Policy errors as a person reads them: every problem at once, each with file:line:column.
export interface PolicyProblem {
  file: string;
  line: number;
  column: number;
  /** Dotted path of the field, when the problem is about one. */
  field?: string;
  message: string;
}

export function formatProblem(p: PolicyProblem): string {
  const where = `${p.file}:${p.line}:${p.column}`;
  return p.field ? `${where}: ${p.field}: ${p.message}` : `${where}: ${p.message}`;
}

export class PolicyInvalidError extends Error {
  readonly problems: PolicyProblem[];
  constructor(problems: PolicyProblem[]) {
    const sorted = [...problems].sort(
      (a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column,
    );
    const noun = sorted.length === 1 ? 'problem' : 'problems';
    super(
      `policy is invalid (${sorted.length} ${noun}):\n${sorted.map((p) => `  ${formatProblem(p)}`).join('\n')}`,
    );
    this.name = 'PolicyInvalidError';
    this.problems = sorted;
  }
}
