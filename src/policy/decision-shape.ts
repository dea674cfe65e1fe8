// What a well-formed decision looks like (decision.ts), checked where a revision is admitted. At run
// time the gateway only checks `allow`; admission makes sure the rest is usable before any call
// depends on it.
import type { Decision } from './decision.ts';

const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Why `value` is not a usable decision, or undefined when it is one. */
export function decisionProblem(value: unknown): string | undefined {
  if (value === undefined) return 'the decision is undefined (data.portcullis.gateway.decision has no value)';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `the decision is ${JSON.stringify(value)}, not an object`;
  }
  const d = value as Partial<Record<keyof Decision, unknown>>;
  if (typeof d.allow !== 'boolean') return 'decision.allow is not a boolean';
  if (!Number.isInteger(d.status) || (d.status as number) < 100 || (d.status as number) > 599) {
    return 'decision.status is not an HTTP status (an integer from 100 to 599)';
  }
  if (!d.allow && (d.status as number) < 400) return `a denial has status ${d.status}, not an error status`;
  if (typeof d.code !== 'string' || (!d.allow && d.code === '')) return 'decision.code is not a string';
  if (!isStringArray(d.reasons)) return 'decision.reasons is not a list of strings';
  if (!isStringArray(d.redact)) return 'decision.redact is not a list of strings';
  if (!isStringArray(d.stripTools)) return 'decision.stripTools is not a list of strings';
  const retry = d.retryAfterSeconds;
  if (retry !== undefined && !(typeof retry === 'number' && Number.isFinite(retry) && retry >= 0)) {
    return 'decision.retryAfterSeconds is not a non-negative number';
  }
  if (d.route !== undefined && typeof d.route !== 'string') return 'decision.route is not a string';
  return undefined;
}
