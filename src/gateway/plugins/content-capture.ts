// Content logging: what a key whose policy turns `contentLogging` on leaves in its audit records — the
// request as the provider saw it and the response as the client got it — redacted before it is stored.
//
// Redaction here does not trust the key's chain to have the right steps: the stored copy always runs
// the secrets detector (every rule) and the PII detector (every type) with action `redact`, and also
// redacts every finding the key's chain reported, whatever the step's action (a `log` step still must
// not put the secret into the audit log). Each side is bounded (MAX_CONTENT_CHARS, head and tail kept).
import {
  applyRedactions,
  type CompiledChain,
  compileChain,
  PII_TYPES,
  redactRequest,
  redactResponse,
  type ScanFinding,
  scanRequest,
  scanResponse,
  streamDeltas,
} from '../../guardrails/index.ts';
import { scanJson } from '../../guardrails/json-text.ts';
import type { GuardrailFinding } from '../../policy/decision.ts';
import { type SseEvent, SseParser } from '../../providers/sse.ts';
import { stripTools } from '../../tools/declared.ts';
import type { Call } from '../call.ts';
import type { ResponseFilter, StreamSink } from '../plugin.ts';

/** Characters kept per side of a record; longer text keeps its head and tail around a marker. */
export const MAX_CONTENT_CHARS = 64 * 1024;
/** Response text held for the record (the client gets all of it either way). */
export const MAX_CAPTURE_CHARS = 4 * MAX_CONTENT_CHARS;

let chain: CompiledChain | undefined;

/** The chain every stored copy runs: all secret rules and all PII types, redacted. */
export function contentRedactionChain(): CompiledChain {
  chain ??= compileChain({
    apiVersion: 'portcullis.dev/v1',
    kind: 'GuardrailChain',
    metadata: { name: 'audit-content' },
    spec: {
      steps: [
        { detector: 'secrets', stage: 'both', action: 'redact' },
        { detector: 'pii', stage: 'both', action: 'redact', types: [...PII_TYPES] },
      ],
    },
  });
  return chain;
}

/** Text cut to MAX_CONTENT_CHARS: its head and tail with a marker saying how much was left out. */
export function bounded(text: string, max = MAX_CONTENT_CHARS): string {
  if (text.length <= max) return text;
  const half = Math.floor(max / 2);
  let head = half;
  let tail = text.length - half;
  // Never split a surrogate pair.
  if (isHigh(text.charCodeAt(head - 1))) head--;
  if (isHigh(text.charCodeAt(tail - 1))) tail++;
  return `${text.slice(0, head)}…[TRUNCATED ${tail - head} chars]…${text.slice(tail)}`;
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;

/**
 * The request as forwarded (tools the decision stripped are gone), with everything the key's chain
 * found and everything the content chain finds redacted, as JSON, bounded. Undefined without a body.
 */
export async function requestContent(call: Call): Promise<string | undefined> {
  const scan = call.scan;
  // The chain's offsets refer to the body as received; the rewrite stage may have replaced call.body since.
  const body = scan?.body ?? call.body;
  if (body == null) return undefined;
  const r = await scanRequest(contentRedactionChain(), call.surface, body);
  const findings = scan !== null ? [...(scan.findings as ScanFinding[]), ...r.findings] : r.findings;
  let stored = redactRequest(call.surface, body, findings);
  if (call.strippedTools.length > 0) stored = stripTools(call.surface, stored, [...call.strippedTools]);
  return bounded(JSON.stringify(stored));
}

/**
 * Records the response bytes as they go to the client (after the guardrails, so what a chain blocked
 * or redacted is not there): stream text deltas per path, or the raw body, up to MAX_CAPTURE_CHARS.
 */
export class ResponseCapture implements ResponseFilter {
  readonly #ctx: Call;
  #parser: SseParser | undefined;
  #mode: 'stream' | 'body' | undefined;
  readonly texts = new Map<string, string>();
  readonly #raw: Buffer[] = [];
  #chars = 0;
  /** More arrived than was kept. */
  cut = false;

  constructor(ctx: Call) {
    this.#ctx = ctx;
  }

  /** A non-streamed answer, whole, as it leaves (after the guardrails). */
  held(body: Buffer): Buffer {
    this.#mode = 'body';
    this.#keep(body);
    return body;
  }

  stream(next: StreamSink): StreamSink {
    return {
      write: (data) => {
        next.write(data);
        this.#capture(data);
      },
      flush: () => next.flush(),
      end: (data) => {
        next.end(data);
        if (data !== undefined) this.#capture(data);
        if (this.#parser !== undefined && !this.cut) {
          const events: SseEvent[] = [];
          this.#parser.end(events);
          this.#events(events);
        }
      },
      fail: (err) => next.fail(err),
      refuse: (status, body) => {
        if (next.refuse?.(status, body) !== true) return false;
        this.#mode = 'body';
        this.#keep(Buffer.from(JSON.stringify(body)));
        return true;
      },
    };
  }

  #keep(chunk: Buffer): void {
    if (this.cut) return;
    this.#raw.push(chunk);
    this.#chars += chunk.length;
    if (this.#chars > MAX_CAPTURE_CHARS) this.cut = true;
  }

  #capture(data: string | Uint8Array): void {
    this.#mode ??= this.#ctx.tracker !== null ? 'stream' : 'body';
    if (this.cut) return;
    if (this.#mode === 'stream') {
      this.#parser ??= new SseParser();
      const events: SseEvent[] = [];
      if (typeof data === 'string') this.#parser.pushText(data, events);
      else this.#parser.push(data, events);
      this.#events(events);
    } else {
      this.#keep(
        typeof data === 'string'
          ? Buffer.from(data)
          : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      );
    }
  }

  #events(events: SseEvent[]): void {
    for (const ev of events) {
      if (ev.data === '' || ev.data === '[DONE]') continue;
      let data: unknown;
      try {
        data = JSON.parse(ev.data);
      } catch {
        continue;
      }
      for (const d of streamDeltas(this.#ctx.surface, data)) {
        if (this.#chars + d.text.length > MAX_CAPTURE_CHARS) {
          this.cut = true;
          return;
        }
        this.#chars += d.text.length;
        this.texts.set(d.path, (this.texts.get(d.path) ?? '') + d.text);
      }
    }
  }

  /** The raw body held so far (non-streamed responses). */
  body(): string {
    return Buffer.concat(this.#raw).toString('utf8');
  }

  get streamed(): boolean {
    return this.#mode === 'stream';
  }
}

/**
 * The response as the client got it, redacted and bounded: the JSON body for non-streamed answers
 * (plain text when it does not parse or was cut), the joined text deltas for streams (one path: its
 * text; several: each under its path). Undefined when nothing was captured.
 */
export async function responseContent(
  ctx: Call,
  capture: ResponseCapture | undefined,
): Promise<string | undefined> {
  if (capture === undefined) return undefined;
  const chainFindings = ctx.findings.filter((f) => f.stage === 'response');
  if (capture.streamed) {
    if (capture.texts.size === 0) return undefined;
    // Streams are only ever cut by a block, never redacted: log and redact findings reached the client.
    const extra = chainFindings.filter((f) => f.action !== 'block');
    const parts = [...capture.texts].map(([path, text]) => {
      const redacted = redactText(
        text,
        capture.cut,
        extra.filter((f) => f.path === path),
      );
      return capture.texts.size === 1 ? redacted : `${path}:\n${redacted}`;
    });
    return bounded(parts.join('\n\n'));
  }
  const raw = capture.body();
  if (raw === '') return undefined;
  if (!capture.cut) {
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined;
    }
    // A JSON array (Gemini streamed without alt=sse) is redacted as text below, every detector over it.
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
      const r = await scanResponse(contentRedactionChain(), ctx.surface, body);
      // A non-streamed answer left the gateway with `redact` findings redacted and `block` ones replaced.
      const extra = unmatched(
        chainFindings.filter((f) => f.action === 'log'),
        r.findings,
      );
      return bounded(JSON.stringify(redactResponse(ctx.surface, body, [...r.findings, ...extra])));
    }
  }
  const logged = capture.cut ? [] : chainFindings.filter((f) => f.action === 'log');
  return bounded(redactText(raw, capture.cut, logged));
}

/**
 * An MCP call's side (the tool arguments as JSON, the result text the client got), through the
 * content chain's detectors and the key's chain findings, bounded. Undefined when there is none.
 */
export function textContent(
  text: string | null,
  chainFindings: readonly GuardrailFinding[] = [],
): string | undefined {
  if (text === null || text === '') return undefined;
  return bounded(redactText(text, false, chainFindings));
}

/**
 * Chain findings the content chain did not find again (same fingerprint at the same path): a custom
 * rule, or a secrets step tuned differently. Without their offsets they redact their whole text.
 */
function unmatched(chainFindings: readonly GuardrailFinding[], found: readonly ScanFinding[]): ScanFinding[] {
  const seen = new Set(found.map((f) => `${f.path}\u0000${f.fingerprint}`));
  return chainFindings.filter((f) => f.path !== '$' && !seen.has(`${f.path}\u0000${f.fingerprint}`));
}

/**
 * One text through the content chain's detectors. Text that is a JSON document (tool arguments) is
 * also scanned value by value; a hit found only that way, like a chain finding the content chain did
 * not find again, has no offsets in this text and redacts all of it. `cut`: the text stops where the
 * capture stopped, so its last stretch may hold the start of a credential no detector can recognise;
 * that stretch is dropped.
 */
function redactText(text: string, cut: boolean, chainFindings: readonly GuardrailFinding[]): string {
  const steps = contentRedactionChain().steps;
  const spans: ScanFinding[] = [];
  const seen = new Set<string>();
  for (const step of steps) {
    const det = step.text!;
    for (const m of det.scan(text)) {
      seen.add(m.fingerprint);
      spans.push(spanFinding(m.rule, m.fingerprint, m.start, m.end));
    }
    for (const m of scanJson(det, text)) {
      if (m.sub !== undefined && !seen.has(m.fingerprint)) spans.push(spanFinding(m.rule, m.fingerprint));
    }
  }
  for (const f of chainFindings) if (!seen.has(f.fingerprint)) spans.push(spanFinding(f.rule, f.fingerprint));
  let body = text;
  let kept = spans;
  if (cut) {
    const keep = Math.max(0, text.length - Math.max(...steps.map((s) => s.text!.maxMatchLength)));
    body = text.slice(0, keep);
    kept = spans
      .filter((f) => f.start === undefined || f.start < keep)
      .map((f) => (f.end !== undefined && f.end > keep ? { ...f, end: keep } : f));
  }
  return applyRedactions(body, kept) + (cut ? '…[TRUNCATED]' : '');
}

/** A span to redact (without offsets: the whole text). */
function spanFinding(rule: string, fingerprint: string, start?: number, end?: number): ScanFinding {
  return {
    rule,
    type: 'content',
    stage: 'response',
    path: '',
    action: 'redact',
    fingerprint,
    chain: 'audit-content',
    step: 0,
    start,
    end,
  };
}
