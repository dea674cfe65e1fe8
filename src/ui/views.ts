// What the dashboard pages show, computed from the rollup, the active snapshot and git: plain data,
// so the pages only render it and tests compare it with the audit log.
import { simpleGit } from 'simple-git';
import { periodWindow } from '../limits/period.ts';
import type { Budget, Snapshot } from '../policy/snapshot.ts';
import type { AuditRollup } from './rollup.ts';

const hourOf = (ms: number): string => new Date(ms).toISOString().slice(0, 13);

export interface BudgetView {
  scope: 'team' | 'key';
  owner: string;
  name: string;
  period: string;
  limitUsd: number;
  spentUsd: number;
  /** spent / limit */
  utilisation: number;
  periodStart: string | null;
  /** Cumulative spend per UTC day in the current period (at most the last 31 days). */
  series: { day: string; spentUsd: number }[];
}

export interface Overview {
  revision: string;
  commit?: { subject: string; author: string; time: string };
  windowDays: number;
  totals: {
    calls: number;
    spendUsd: number;
    refused: number;
    errors: number;
    inputTokens: number;
    outputTokens: number;
  };
  dailySpend: { day: string; team: string; spendUsd: number }[];
  budgets: BudgetView[];
  topUsers: { owner: string; calls: number; spendUsd: number }[];
  topModels: { model: string; provider: string; calls: number; spendUsd: number; tokens: number }[];
}

export function overview(
  rollup: AuditRollup,
  snapshot: Snapshot | undefined,
  nowMs: number,
  windowDays = 30,
): Overview {
  const since = hourOf(nowMs - windowDays * 86_400_000).slice(0, 10);
  const totals = rollup.all<Record<string, number | null>>(
    `SELECT sum(calls) calls, sum(cost) spend, sum(denied + blocked) refused, sum(errors) errors,
            sum(input) input, sum(output) output FROM usage_daily WHERE day >= ?`,
    since,
  )[0];
  const dailySpend = rollup
    .all<{ day: string; team: string; spend: number }>(
      `SELECT day, team, sum(cost) spend FROM usage_daily WHERE day >= ? GROUP BY day, team ORDER BY day, team`,
      since,
    )
    .map((r) => ({ day: r.day, team: r.team, spendUsd: r.spend }));
  const topUsers = rollup
    .all<{ owner: string; calls: number; spend: number }>(
      `SELECT owner, sum(calls) calls, sum(cost) spend FROM usage_daily WHERE day >= ? AND owner != ''
       GROUP BY owner ORDER BY spend DESC, calls DESC LIMIT 10`,
      since,
    )
    .map((r) => ({ owner: r.owner, calls: r.calls, spendUsd: r.spend }));
  const topModels = rollup
    .all<{ model: string; provider: string; calls: number; spend: number; tokens: number }>(
      `SELECT model, provider, sum(calls) calls, sum(cost) spend, sum(input + output) tokens FROM usage_daily
       WHERE day >= ? GROUP BY model, provider ORDER BY spend DESC, calls DESC LIMIT 10`,
      since,
    )
    .map((r) => ({
      model: r.model,
      provider: r.provider,
      calls: r.calls,
      spendUsd: r.spend,
      tokens: r.tokens,
    }));
  return {
    revision: snapshot?.revision ?? '(no active policy)',
    commit: snapshot?.source.commit,
    windowDays,
    totals: {
      calls: totals.calls ?? 0,
      spendUsd: totals.spend ?? 0,
      refused: totals.refused ?? 0,
      errors: totals.errors ?? 0,
      inputTokens: totals.input ?? 0,
      outputTokens: totals.output ?? 0,
    },
    dailySpend,
    budgets: snapshot ? budgets(rollup, snapshot, nowMs) : [],
    topUsers,
    topModels,
  };
}

/** Every team and key budget with its spend in the current period, as the limits count it. */
export function budgets(rollup: AuditRollup, snapshot: Snapshot, nowMs: number): BudgetView[] {
  const out: BudgetView[] = [];
  const zone = snapshot.gateway.budgetTimezone;
  // A team's budget counts the calls of keys in the team and in its sub-teams.
  const lineage = (team: string): string[] => snapshot.teams.get(team)?.lineage ?? [team];
  const view = (scope: 'team' | 'key', owner: string, b: Budget, column: 'team' | 'key_id') => {
    const w = periodWindow(b.period, b.timezone ?? zone, nowMs);
    const from = w.startMs === undefined ? '' : hourOf(w.startMs);
    const seriesFrom = w.startMs === undefined ? hourOf(nowMs - 31 * 86_400_000) : from;
    const members = column === 'team' ? teamsUnder(owner) : [owner];
    const marks = members.map(() => '?').join(',');
    const spent =
      rollup.all<{ s: number | null }>(
        `SELECT sum(cost) s FROM spend_hourly WHERE ${column} IN (${marks}) AND hour >= ?`,
        ...members,
        from,
      )[0].s ?? 0;
    const daily = rollup.all<{ day: string; s: number }>(
      `SELECT substr(hour, 1, 10) day, sum(cost) s FROM spend_hourly WHERE ${column} IN (${marks}) AND hour >= ?
       GROUP BY day ORDER BY day`,
      ...members,
      seriesFrom,
    );
    let running = w.startMs === undefined ? spent - daily.reduce((a, d) => a + d.s, 0) : 0;
    out.push({
      scope,
      owner,
      name: b.name ?? b.period,
      period: b.period,
      limitUsd: b.amountUsd,
      spentUsd: spent,
      utilisation: b.amountUsd > 0 ? spent / b.amountUsd : 0,
      periodStart: w.startMs === undefined ? null : new Date(w.startMs).toISOString(),
      series: daily.map((d) => {
        running += d.s;
        return { day: d.day, spentUsd: running };
      }),
    });
  };
  const allTeams = new Set<string>([
    ...snapshot.teams.keys(),
    ...rollup.all<{ team: string }>(`SELECT DISTINCT team FROM spend_hourly`).map((r) => r.team),
  ]);
  const teamsUnder = (team: string): string[] => [...allTeams].filter((t) => lineage(t).includes(team));
  for (const team of [...snapshot.teams.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    for (const b of team.budgets) view('team', team.id, b, 'team');
  }
  for (const key of [...snapshot.keys.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    for (const b of key.budgets) view('key', key.id, b, 'key_id');
  }
  return out;
}

export interface RefusalsView {
  refusals: { outcome: string; code: string; reason: string; team: string; count: number }[];
  findings: { rule: string; action: string; stage: string; count: number }[];
}

export function refusals(rollup: AuditRollup, nowMs: number, windowDays = 30): RefusalsView {
  const since = hourOf(nowMs - windowDays * 86_400_000).slice(0, 10);
  return {
    refusals: rollup.all(
      `SELECT outcome, code, reason, team, sum(n) count FROM refusals_daily WHERE day >= ?
       GROUP BY outcome, code, reason, team ORDER BY count DESC LIMIT 100`,
      since,
    ),
    findings: rollup.all(
      `SELECT rule, action, stage, sum(n) count FROM findings_daily WHERE day >= ?
       GROUP BY rule, action, stage ORDER BY count DESC LIMIT 100`,
      since,
    ),
  };
}

export interface PolicyCommit {
  sha: string;
  author: string;
  date: string;
  subject: string;
  files: string[];
}

/** Who changed the policy, when and what: the last commits touching the policy directory. */
export async function policyHistory(dir: string, maxCount = 30): Promise<PolicyCommit[] | { error: string }> {
  try {
    const git = simpleGit(dir);
    const out = await git.raw([
      'log',
      `--max-count=${maxCount}`,
      '--name-only',
      '--format=%x1e%H%x1f%an%x1f%aI%x1f%s',
      '--',
      '.',
    ]);
    return out
      .split('\x1e')
      .filter((block) => block.trim() !== '')
      .map((block) => {
        const [head, ...files] = block.split('\n');
        const [sha, author, date, subject] = head.split('\x1f');
        return { sha, author, date, subject, files: files.filter(Boolean) };
      });
  } catch (err) {
    return { error: `no git history for ${dir}: ${(err as Error).message.split('\n')[0]}` };
  }
}
