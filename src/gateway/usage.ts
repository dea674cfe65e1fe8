// What a forwarded call used (tokens, cost, latency), computed once when it ends, from the wire
// format's own usage reading; limits settle it, audit records it, metrics count it.
import type { Surface } from '../policy/decision.ts';
import { adapters } from '../providers/index.ts';
import { costUsd } from '../providers/pricing.ts';
import { trailingObject } from '../providers/tail.ts';
import { emptyUsage, type TokenUsage } from '../providers/types.ts';
import type { Call, Timings } from './call.ts';

export interface Latency {
  totalMs: number;
  /** Until upstream response headers arrived, from forwarding. */
  upstreamMs: number;
  /** Gateway time before forwarding (auth, plugins, decision); the whole call when not forwarded. */
  gatewayMs: number;
}

export interface UsageEvent {
  requestId: string;
  /** When the call arrived, ISO-8601. */
  time: string;
  /** Policy revision the call was decided under. */
  revision: string;
  keyId: string | null;
  owner: string | null;
  team: string | null;
  session: string | null;
  surface: Surface;
  provider: string;
  model: string;
  /** The price entry used (a dated model is priced by the entry it extends); null when unpriced. */
  pricedModel: string | null;
  stream: boolean;
  /** HTTP status the client received (the upstream's, or the gateway's on 502/504). */
  status: number;
  /** Input tokens at the full input price (cached reads and cache writes excluded). */
  inputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  costUsd: number;
  /** The output count is estimated from streamed text (upstream never reported it). */
  estimated: boolean;
  /** The client went away or the upstream failed before the response completed. */
  aborted: boolean;
  latency: Latency;
}

export function latencyOf(t: Timings): Latency {
  return {
    totalMs: t.end,
    upstreamMs: t.upstreamHeaders > 0 ? t.upstreamHeaders - t.forwarded : 0,
    gatewayMs: t.forwarded > 0 ? t.forwarded : t.end,
  };
}

function tokensOf(call: Call): { usage: TokenUsage; estimated: boolean } {
  const read = tokensRead(call);
  // The provider answered and then failed before reporting usage: it still served (and bills) the
  // input, so the input is estimated rather than recorded as free.
  if (call.upstreamError !== null && call.upstreamStatus >= 200 && call.upstreamStatus < 300) {
    if (read.usage.inputTokens === 0 && read.usage.cachedInputTokens === 0) {
      return {
        usage: { ...read.usage, inputTokens: call.input.sizes.estimatedInputTokens },
        estimated: true,
      };
    }
  }
  return read;
}

function tokensRead(call: Call): { usage: TokenUsage; estimated: boolean } {
  const tracker = call.tracker;
  if (tracker !== null) return { usage: tracker.usage(), estimated: tracker.estimated() };
  if (call.upstreamUsage !== null) return { usage: call.upstreamUsage, estimated: false };
  // What the provider billed: a response a filter replaced (e.g. a 400 for a leaked credential)
  // still consumed the upstream's tokens.
  if ((call.upstreamStatus || call.status) >= 300) return { usage: emptyUsage(), estimated: false };
  // The answer is in the upstream's wire format (the route's provider API).
  const api = call.route?.provider.api;
  if (api === undefined) return { usage: emptyUsage(), estimated: false };
  const format = adapters[api];
  let usage: TokenUsage | null = null;
  if (call.upstreamJson !== undefined) {
    usage = format.usageFromJson(call.surface, call.upstreamJson);
  } else if (call.tail !== null && call.tail !== '') {
    const key = format.usageKey;
    const obj = trailingObject(call.tail, key);
    if (obj !== undefined) usage = format.usageFromJson(call.surface, { [key]: obj });
  }
  return { usage: usage ?? emptyUsage(), estimated: false };
}

/** The usage of a call that reached the upstream (streams cut short included). */
export function usageOf(call: Call): UsageEvent {
  const { usage, estimated } = tokensOf(call);
  const key = call.key;
  const price = call.route?.price;
  return {
    requestId: call.id,
    time: call.startedIso,
    revision: call.snapshot.revision,
    keyId: key?.id ?? null,
    owner: key?.owner ?? null,
    team: key?.team ?? null,
    session: call.input.session ?? null,
    surface: call.surface,
    provider: call.route?.provider.id ?? '',
    model: call.input.model,
    pricedModel: price?.id ?? null,
    stream: call.input.stream,
    status: call.status,
    inputTokens: usage.inputTokens,
    cachedInputTokens: usage.cachedInputTokens,
    cacheWriteTokens: usage.cacheWriteTokens,
    outputTokens: usage.outputTokens,
    costUsd: costUsd(price, usage),
    estimated,
    aborted: call.aborted,
    latency: latencyOf(call.timings),
  };
}
