// The bodies an alert is delivered as, and the signature a receiver checks.
import { createHmac } from 'node:crypto';
import type { BudgetAlert } from './types.ts';

const usd = (n: number): string => `$${n.toFixed(2)}`;

function scopeNote(a: BudgetAlert): string {
  if (a.models !== undefined) return ` ${a.models.join('/')}`;
  if (a.providers !== undefined) return ` ${a.providers.join('/')}`;
  return '';
}

/** One sentence a person reads in a chat channel. */
export function alertSentence(a: BudgetAlert): string {
  const reached = a.thresholdPct >= 100 ? 'is spent' : `reached ${a.thresholdPct}%`;
  const consequence =
    a.thresholdPct < 100
      ? ''
      : a.enforcement === 'soft'
        ? ' Calls still go through (soft limit).'
        : ' Calls are refused until it resets.';
  const reset = a.resetsAt === undefined ? '' : ` It resets at ${a.resetsAt}.`;
  return `Portcullis: the ${a.period}${scopeNote(a)} budget of ${a.scope} ${a.owner} ${reached}: ${usd(a.usedUsd)} of ${usd(a.limitUsd)}.${consequence}${reset}`;
}

/** A Slack (and Mattermost, Rocket.Chat…) incoming-webhook message. */
export function slackBody(a: BudgetAlert): string {
  return JSON.stringify({ text: alertSentence(a) });
}

/** The generic JSON event. */
export function jsonBody(a: BudgetAlert): string {
  return JSON.stringify({ type: 'portcullis.budget.threshold', alert: a, message: alertSentence(a) });
}

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the receiver recomputes it with the shared
 * secret and rejects stale timestamps, which stops both forgery and replay.
 */
export function signature(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export const SIGNATURE_HEADER = 'x-portcullis-signature';
