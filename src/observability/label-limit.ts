// Keeps a label's cardinality bounded when its values come from callers (a model name is whatever the
// request says): the first `max` distinct values are kept, later new ones become `_other`.
export const OTHER = '_other';

export class LabelLimit {
  private readonly seen = new Set<string>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  value(v: string): string {
    if (this.seen.has(v)) return v;
    if (this.seen.size >= this.max) return OTHER;
    this.seen.add(v);
    return v;
  }
}
