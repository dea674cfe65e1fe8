// The dashboard's pages, rendered on the server: numbers are in the HTML (with the exact value in
// `data-value`, for tests and for copying), charts are drawn in the browser by Chart.js from the JSON
// in each canvas's `data-chart`.
import type { AuditRecord } from '../audit/record.ts';
import { esc, html, int, pct, type Raw, raw, usd } from './html.ts';
import type { Overview, PolicyCommit, RefusalsView } from './views.ts';

function layout(title: string, viewer: string, active: string, body: Raw): string {
  const nav = [
    ['/ui', 'Overview'],
    ['/ui/refusals', 'Refusals & findings'],
    ['/ui/audit', 'Audit search'],
    ['/ui/policy', 'Policy'],
  ];
  return `<!doctype html>${
    html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Portcullis</title><link rel="stylesheet" href="/ui/assets/style.css"></head>
<body><header><strong>Portcullis</strong><nav>${nav.map(
      ([href, label]) => html`<a href="${href}"${raw(href === active ? ' class="active"' : '')}>${label}</a>`,
    )}</nav><span class="viewer">${viewer}</span></header>
<main><h1>${title}</h1>${body}</main>
<script src="/ui/assets/chart.umd.min.js"></script><script src="/ui/assets/dashboard.js"></script></body></html>`
      .html
  }`;
}

const stat = (id: string, label: string, value: number, text: string) =>
  html`<div class="stat"><div class="label">${label}</div><div class="value" data-testid="${id}" data-value="${value}">${text}</div></div>`;

/** A bar drawn with SVG attributes (inline styles are blocked by the pages' Content-Security-Policy). */
function usageBar(ratio: number): Raw {
  const width = Math.round(Math.min(1, Math.max(0, ratio)) * 120);
  const colour = ratio >= 1 ? '#dc2626' : ratio >= 0.8 ? '#ca8a04' : '#16a34a';
  return html`<svg class="usage" width="120" height="8" role="img" aria-label="${pct(ratio)}"><rect width="120" height="8" rx="4" fill="#e5e7eb"></rect><rect width="${width}" height="8" rx="4" fill="${colour}"></rect></svg>`;
}

const chart = (id: string, spec: unknown) =>
  html`<div class="chart"><canvas id="${id}" data-chart="${JSON.stringify(spec)}"></canvas></div>`;

export function overviewPage(o: Overview, viewer: string): string {
  const days = [...new Set(o.dailySpend.map((d) => d.day))];
  const teams = [...new Set(o.dailySpend.map((d) => d.team))];
  const spendChart = {
    type: 'bar',
    labels: days,
    stacked: true,
    datasets: teams.map((team) => ({
      label: team || '(no team)',
      data: days.map((day) => o.dailySpend.find((d) => d.day === day && d.team === team)?.spendUsd ?? 0),
    })),
  };
  const budgetDays = [...new Set(o.budgets.flatMap((b) => b.series.map((s) => s.day)))].sort();
  const budgetChart = {
    type: 'line',
    labels: budgetDays,
    percent: true,
    datasets: o.budgets
      .filter((b) => b.period !== 'daily')
      .map((b) => {
        let last = 0;
        return {
          label: `${b.scope} ${b.owner} · ${b.name}`,
          data: budgetDays.map((day) => {
            const point = b.series.find((s) => s.day === day);
            if (point) last = point.spentUsd;
            return b.limitUsd > 0 ? (last / b.limitUsd) * 100 : 0;
          }),
        };
      }),
  };
  const body = html`
<p class="revision">Active policy revision <code data-testid="revision">${o.revision}</code>${
    o.commit ? html` — “${o.commit.subject}” by ${o.commit.author}, ${o.commit.time}` : ''
  }</p>
<section class="stats">
${stat('calls', `Calls, last ${o.windowDays} days`, o.totals.calls, int(o.totals.calls))}
${stat('spend', 'Spend', o.totals.spendUsd, usd(o.totals.spendUsd))}
${stat('refused', 'Refused or blocked', o.totals.refused, int(o.totals.refused))}
${stat('errors', 'Errors', o.totals.errors, int(o.totals.errors))}
${stat('tokens', 'Tokens in / out', o.totals.inputTokens + o.totals.outputTokens, `${int(o.totals.inputTokens)} / ${int(o.totals.outputTokens)}`)}
</section>
<h2>Spend per day and team</h2>
${chart('spend-chart', spendChart)}
<h2>Budgets</h2>
${chart('budget-chart', budgetChart)}
<table data-testid="budgets"><thead><tr><th>Scope</th><th>Owner</th><th>Budget</th><th>Period from</th><th class="num">Spent</th><th class="num">Limit</th><th>Used</th></tr></thead><tbody>
${o.budgets.map(
  (
    b,
  ) => html`<tr data-budget="${b.scope}:${b.owner}:${b.name}"><td>${b.scope}</td><td>${b.owner}</td><td>${b.name} (${b.period})</td><td>${b.periodStart?.slice(0, 10) ?? 'all time'}</td>
<td class="num" data-value="${b.spentUsd}">${usd(b.spentUsd)}</td><td class="num" data-value="${b.limitUsd}">${usd(b.limitUsd)}</td>
<td>${usageBar(b.utilisation)} ${pct(b.utilisation)}</td></tr>`,
)}
</tbody></table>
<div class="two">
<div><h2>Top users</h2><table data-testid="top-users"><thead><tr><th>Owner</th><th class="num">Calls</th><th class="num">Spend</th></tr></thead><tbody>
${o.topUsers.map((u) => html`<tr data-owner="${u.owner}"><td>${u.owner}</td><td class="num" data-value="${u.calls}">${int(u.calls)}</td><td class="num" data-value="${u.spendUsd}">${usd(u.spendUsd)}</td></tr>`)}
</tbody></table></div>
<div><h2>Top models</h2><table data-testid="top-models"><thead><tr><th>Model</th><th>Provider</th><th class="num">Calls</th><th class="num">Tokens</th><th class="num">Spend</th></tr></thead><tbody>
${o.topModels.map((m) => html`<tr data-model="${m.model}"><td>${m.model}</td><td>${m.provider}</td><td class="num" data-value="${m.calls}">${int(m.calls)}</td><td class="num">${int(m.tokens)}</td><td class="num" data-value="${m.spendUsd}">${usd(m.spendUsd)}</td></tr>`)}
</tbody></table></div></div>`;
  return layout('Overview', viewer, '/ui', body);
}

export function refusalsPage(v: RefusalsView, viewer: string): string {
  const body = html`
<h2>Refused and blocked calls, last 30 days</h2>
<table data-testid="refusals"><thead><tr><th>Outcome</th><th>Code</th><th>Reason</th><th>Team</th><th class="num">Calls</th></tr></thead><tbody>
${v.refusals.map((r) => html`<tr><td>${r.outcome}</td><td><code>${r.code}</code></td><td>${r.reason}</td><td>${r.team}</td><td class="num" data-value="${r.count}">${int(r.count)}</td></tr>`)}
</tbody></table>
<h2>Guardrail findings</h2>
${chart('findings-chart', {
  type: 'bar',
  labels: v.findings.map((f) => `${f.rule} (${f.action})`),
  datasets: [{ label: 'findings', data: v.findings.map((f) => f.count) }],
})}
<table data-testid="findings"><thead><tr><th>Rule</th><th>Action</th><th>Stage</th><th class="num">Findings</th></tr></thead><tbody>
${v.findings.map((f) => html`<tr><td>${f.rule}</td><td>${f.action}</td><td>${f.stage}</td><td class="num" data-value="${f.count}">${int(f.count)}</td></tr>`)}
</tbody></table>`;
  return layout('Refusals & findings', viewer, '/ui/refusals', body);
}

export function policyPage(
  revision: string,
  history: PolicyCommit[] | { error: string },
  viewer: string,
): string {
  const body = html`<p>Active revision <code data-testid="revision">${revision}</code></p>
<h2>Policy history</h2>
${
  'error' in history
    ? html`<p class="muted">${history.error}</p>`
    : html`<table data-testid="history"><thead><tr><th>Commit</th><th>When</th><th>Who</th><th>What</th><th>Files</th></tr></thead><tbody>
${history.map((c) => html`<tr${raw(revision === c.sha ? ' class="active"' : '')}><td><code>${c.sha.slice(0, 12)}</code></td><td>${c.date}</td><td>${c.author}</td><td>${c.subject}</td><td>${c.files.join(', ')}</td></tr>`)}
</tbody></table>`
}`;
  return layout('Policy', viewer, '/ui/policy', body);
}

export interface SearchForm {
  key?: string;
  team?: string;
  owner?: string;
  model?: string;
  outcome?: string;
  code?: string;
  request?: string;
  since?: string;
}

export function auditPage(
  form: SearchForm,
  rows: { seq: number; record: AuditRecord }[],
  viewer: string,
  error?: string,
): string {
  const field = (name: keyof SearchForm, label: string) =>
    html`<label>${label}<input name="${name}" value="${form[name] ?? ''}"></label>`;
  const body = html`<form method="get" action="/ui/audit" class="search">
${field('key', 'Key')}${field('team', 'Team')}${field('owner', 'Owner')}${field('model', 'Model')}${field('outcome', 'Outcome')}${field('code', 'Decision code')}${field('request', 'Request id')}${field('since', 'Since (24h, 7d, ISO)')}
<button type="submit">Search</button></form>
${error ? html`<p class="error">${error}</p>` : ''}
<p class="muted">Newest first, at most 100. Content appears only for keys with content logging, redacted as it was stored.</p>
<table data-testid="audit"><thead><tr><th>Seq</th><th>Time</th><th>Key</th><th>Team</th><th>Model</th><th>Outcome</th><th>Code</th><th class="num">Tokens in/out</th><th class="num">Cost</th></tr></thead><tbody>
${rows.map(
  ({
    seq,
    record: r,
  }) => html`<tr data-request="${r.requestId}"><td>${seq}</td><td>${r.time}</td><td>${r.keyId ?? ''}</td><td>${r.team ?? ''}</td><td>${r.model}</td><td>${r.outcome}</td><td><code>${r.decision?.code ?? r.errorCode ?? ''}</code></td>
<td class="num">${int(r.tokens.input)} / ${int(r.tokens.output)}</td><td class="num" data-value="${r.costUsd}">${usd(r.costUsd)}</td></tr>
<tr class="detail"><td colspan="9"><details><summary>${r.requestId}${r.decision?.reasons.length ? html` — ${r.decision.reasons.join('; ')}` : ''}</summary>
${r.findings.length ? html`<p>Findings: ${r.findings.map((f) => `${f.rule} (${f.action}, ${f.stage} ${f.path})`).join(', ')}</p>` : ''}
${r.content?.request !== undefined ? html`<h4>Request</h4><pre data-testid="content-request">${r.content.request}</pre>` : ''}
${r.content?.response !== undefined ? html`<h4>Response</h4><pre data-testid="content-response">${r.content.response}</pre>` : ''}
</details></td></tr>`,
)}
</tbody></table>`;
  return layout('Audit search', viewer, '/ui/audit', body);
}

export function loginPage(error?: string): string {
  return `<!doctype html>${
    html`<html lang="en"><head><meta charset="utf-8"><title>Sign in · Portcullis</title><link rel="stylesheet" href="/ui/assets/style.css"></head>
<body><main class="login"><h1>Portcullis dashboard</h1>${error ? html`<p class="error">${error}</p>` : ''}
<form method="post" action="/ui/login"><label>Admin token<input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">Sign in</button></form></main></body></html>`.html
  }`;
}

export { esc };
