// Who changed one policy object, when, and what each change did: the commits touching the policy
// directory, each diffed semantically against its first parent and filtered to that object.
import { type PolicyRepo, PolicyTrees } from './git-tree.ts';
import {
  changesFor,
  diffPolicies,
  EMPTY_MODEL,
  loadPolicyModel,
  type PolicyChange,
  type PolicyModel,
} from './semantic-diff.ts';

export interface HistoryEntry {
  commit: string;
  author: string;
  email: string;
  /** ISO-8601 author date. */
  date: string;
  subject: string;
  changes: PolicyChange[];
}

const SEP = '\x1f';

/** Newest first. `target` is `Kind/name`, e.g. `VirtualKey/bob-dev` or `Team/platform`. */
export async function policyHistory(repo: PolicyRepo, target: string, options: { maxCount?: number } = {}) {
  const args = ['log', `--format=%H${SEP}%P${SEP}%an${SEP}%ae${SEP}%aI${SEP}%s`];
  if (options.maxCount) args.push(`--max-count=${options.maxCount}`);
  args.push('--', repo.rel || '.');
  const out = await repo.git.raw(args);
  const commits = out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [sha, parents, author, email, date, subject] = line.split(SEP);
      return { sha, parent: parents.split(' ').filter(Boolean)[0], author, email, date, subject };
    });
  const trees = new PolicyTrees(repo);
  const models = new Map<string, Promise<PolicyModel>>();
  const model = (sha: string | undefined): Promise<PolicyModel> => {
    if (!sha) return Promise.resolve(EMPTY_MODEL);
    let m = models.get(sha);
    if (!m) {
      m = trees.dir(sha).then((d) => (d ? loadPolicyModel(d) : EMPTY_MODEL));
      models.set(sha, m);
    }
    return m;
  };
  try {
    const entries: HistoryEntry[] = [];
    for (const c of commits) {
      const changes = changesFor(diffPolicies(await model(c.parent), await model(c.sha)), target);
      if (changes.length === 0) continue;
      entries.push({
        commit: c.sha,
        author: c.author,
        email: c.email,
        date: c.date,
        subject: c.subject,
        changes,
      });
    }
    return entries;
  } finally {
    trees.close();
  }
}
