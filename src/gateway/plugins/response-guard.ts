// The guardrails plugin's response filter: a non-streamed answer is held whole, checked and sent or
// replaced (status included); a stream's events go out once checked, with text held back only where a
// credential may still be arriving (guardrails/stream.ts releasableTo). A response-stage `block` finding or
// a call to a tool the key may not use ends the answer with the error its SDK raises, and cancels
// the upstream. Findings and refused tool calls are reported to the call for audit.
import {
  type CompiledChain,
  createResponseScanner,
  type ResponseScanner,
  redactResponse,
  type ScanFinding,
  type ScanResult,
  scanResponse,
  streamDeltas,
} from '../../guardrails/index.ts';
import type { GuardrailFinding, Surface } from '../../policy/decision.ts';
import { eventJson, type SseEvent } from '../../providers/sse.ts';
import { isTerminalEvent, streamErrorEvents } from '../../providers/stream-errors.ts';
import type { ProviderAdapter, StreamTracker } from '../../providers/types.ts';
import {
  createToolCallWatcher,
  DENIED_TOOL_STATUS,
  type DeniedToolCall,
  deniedToolErrorBody,
  deniedToolErrorEvent,
  findDeniedToolCalls,
  type ToolCallWatcher,
} from '../../tools/index.ts';
import type { Call } from '../call.ts';
import { GUARDRAIL_BLOCKED } from '../errors.ts';
import type { ResponseFilter, StreamSink } from '../plugin.ts';
import { logErrors, policyFinding } from './guardrail-chains.ts';
import type { PluginLogger } from './limits.ts';
import { type DeniedTools, offeredOf } from './tool-scope.ts';

export const GUARDRAIL_BLOCKED_CODE = GUARDRAIL_BLOCKED;
export const GUARDRAIL_BLOCKED_STATUS = 400;

/**
 * The refusal of an answer: each finding named once (the same credential at several places, or found
 * by several steps, is one finding), and what the user can do. The answer was stopped before any of
 * the credential reached the client, so it is not in the conversation.
 */
export function guardrailBlockMessage(findings: GuardrailFinding | readonly GuardrailFinding[]): string {
  const list = Array.isArray(findings) ? findings : [findings as GuardrailFinding];
  const byFingerprint = new Map<string, { f: GuardrailFinding; paths: Set<string> }>();
  for (const f of list) {
    const e = byFingerprint.get(f.fingerprint) ?? { f, paths: new Set<string>() };
    e.paths.add(f.path);
    byFingerprint.set(f.fingerprint, e);
  }
  const named = [...byFingerprint.values()].map(
    ({ f, paths }) => `${f.rule} (${f.type}) at ${[...paths].join(', ')}`,
  );
  const chains = [...new Set(list.map((f) => f.chain))].join(', ');
  return (
    `Portcullis stopped this response: guardrail chain ${chains} found ${named.join('; ')} in the model's output. ` +
    'None of it was delivered, so it is not in your conversation. Ask again, or tell your platform team if this is a mistake.'
  );
}

/** Non-streaming: the surface's JSON error body for a response-stage block. */
export function guardrailErrorBody(
  format: ProviderAdapter,
  f: GuardrailFinding | readonly GuardrailFinding[],
): unknown {
  return format.errorBody(GUARDRAIL_BLOCKED_STATUS, guardrailBlockMessage(f), GUARDRAIL_BLOCKED_CODE);
}

/** Streaming: the SSE error event that ends the stream, in the same shapes as a denied tool's. */
export function guardrailErrorEvent(
  format: ProviderAdapter,
  surface: Surface,
  f: GuardrailFinding | readonly GuardrailFinding[],
  sequenceNumber = 0,
): Uint8Array {
  return streamErrorEvents(surface, guardrailErrorBody(format, f), {
    code: GUARDRAIL_BLOCKED_CODE,
    type: 'invalid_request_error',
    message: guardrailBlockMessage(f),
    sequenceNumber,
  });
}

/**
 * The response filter. Non-streamed 2xx bodies are held by forward.ts, checked here, and sent or
 * replaced (status included). Streams pass through a StreamGuard.
 */
export class ResponseGuard implements ResponseFilter {
  readonly #ctx: Call;
  readonly #chain: CompiledChain | undefined;
  readonly #denied: DeniedTools | undefined;
  readonly #log: PluginLogger;

  constructor(
    ctx: Call,
    chain: CompiledChain | undefined,
    denied: DeniedTools | undefined,
    log: PluginLogger,
  ) {
    this.#ctx = ctx;
    this.#chain = chain;
    this.#denied = denied;
    this.#log = log;
  }

  stream(next: StreamSink): StreamSink | undefined {
    const ctx = this.#ctx;
    if (ctx.status >= 300 || ctx.tracker === null) return undefined;
    return new StreamGuard(ctx, ctx.tracker, this.#chain, this.#denied, this.#log, next);
  }

  held(raw: Buffer): Buffer | Promise<Buffer> {
    const ctx = this.#ctx;
    if (ctx.status >= 300) return raw;
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return raw;
    }
    ctx.upstreamJson = body;
    // streamGenerateContent without alt=sse answers a JSON array of chunks: each is checked as an answer.
    const answers: unknown[] = Array.isArray(body) ? body : [body];
    if (this.#denied !== undefined) {
      for (const answer of answers) {
        const calls = findDeniedToolCalls(ctx.surface, answer, this.#denied);
        if (calls.length > 0) {
          ctx.reportDeniedCall(calls[0]);
          return this.#replace(
            DENIED_TOOL_STATUS,
            deniedToolErrorBody(ctx.surface, calls[0].name, {
              scope: ctx.key?.toolScope,
              offered: offeredOf(ctx, calls[0].name),
            }),
          );
        }
      }
    }
    const chain = this.#chain;
    if (chain === undefined) return raw;
    const results = answers.map((answer) => scanResponse(chain, ctx.surface, answer));
    if (results.some((r) => r instanceof Promise)) {
      return Promise.all(results).then((rs) => this.#checked(raw, body, answers, rs));
    }
    return this.#checked(raw, body, answers, results as ScanResult[]);
  }

  #checked(raw: Buffer, body: unknown, answers: unknown[], results: ScanResult[]): Buffer {
    const ctx = this.#ctx;
    const chunked = Array.isArray(body);
    let redacted: unknown[] | undefined;
    const blocks: GuardrailFinding[] = [];
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      logErrors(this.#log, ctx, r.errors);
      if (r.findings.length === 0) continue;
      for (const f of r.findings) {
        const finding = policyFinding(f);
        if (chunked) finding.path = `[${i}].${finding.path}`;
        ctx.reportFinding(finding);
        if (finding.action === 'block') blocks.push(finding);
      }
      const redact = r.findings.filter((f) => f.action === 'redact');
      if (redact.length > 0) {
        redacted ??= answers.slice();
        redacted[i] = redactResponse(ctx.surface, answers[i], redact);
      }
    }
    if (blocks.length > 0)
      return this.#replace(GUARDRAIL_BLOCKED_STATUS, guardrailErrorBody(ctx.format!, blocks));
    if (redacted === undefined) return raw;
    return Buffer.from(JSON.stringify(chunked ? redacted : redacted[0]));
  }

  #replace(status: number, body: unknown): Buffer {
    this.#ctx.status = status;
    return Buffer.from(JSON.stringify(body));
  }
}

/** An SSE event held until the text it carries is cleared. */
interface HeldEvent {
  raw: string;
  /** The first text path the event carried, and how much text that path had at its end. */
  path: string | undefined;
  at: number;
  more: [string, number][] | undefined;
}

/**
 * A streamed answer: SSE events go out once complete and checked — with a response chain, once no
 * credential still arriving can include their text (releasableTo); a block or a denied
 * tool call ends the stream with the error event its SDK raises, and what was held is never sent.
 */
class StreamGuard implements StreamSink {
  readonly #ctx: Call;
  readonly #next: StreamSink;
  readonly #log: PluginLogger;
  #streaming = true;
  /** The usage tracker, whose parse of the same stream this guard reads instead of the bytes. */
  readonly #tracker: StreamTracker;
  readonly #scanner: ResponseScanner | undefined;
  readonly #watcher: ToolCallWatcher | undefined;
  #terminal: string[] = [];
  #sequence = 0;
  /**
   * Scanned events not yet sent, with how much text their path had at their end (`path`/`at`: most
   * events carry one text delta or none; `more` holds the marks of any further paths).
   */
  #queue: HeldEvent[] = [];
  #fed = new Map<string, number>();
  /** Events cleared while handling one upstream chunk: they leave together, in one socket write. */
  #out: string[] = [];
  /** The first cleared event leaves at once: the client's time to first byte does not wait for the chunk. */
  #sentFirst = false;
  /** Text the scanner checked has been cleared to go out. */
  #textCleared = false;

  constructor(
    ctx: Call,
    tracker: StreamTracker,
    chain: CompiledChain | undefined,
    denied: DeniedTools | undefined,
    log: PluginLogger,
    next: StreamSink,
  ) {
    this.#ctx = ctx;
    this.#log = log;
    this.#next = next;
    // forward.ts feeds the tracker each chunk before this guard sees it, so its events are ready.
    this.#tracker = tracker;
    tracker.share();
    if (chain !== undefined) {
      this.#scanner = createResponseScanner(chain, ctx.surface);
    }
    if (denied !== undefined) this.#watcher = createToolCallWatcher(ctx.surface, denied);
  }

  // The chunk's events were parsed by the tracker, which forward.ts fed first.
  write(_chunk: string | Uint8Array): void {
    if (!this.#streaming) return;
    this.#events(this.#tracker.take());
    this.#emit();
  }

  flush(): void {
    this.#next.flush();
  }

  end(): void {
    if (!this.#streaming) return;
    this.#events(this.#tracker.take());
    if (!this.#streaming) return;
    // Nothing more will arrive: what the scanner still holds is reported now, then the rest goes out.
    const r = this.#scanner?.end();
    if (r instanceof Promise) {
      r.then(
        (result) => this.#scanned(result),
        (err: unknown) => this.fail(err),
      );
    } else this.#scanned(r);
  }

  fail(err: unknown): void {
    this.#streaming = false;
    this.#next.fail(err);
  }

  #scanned(r: ScanResult | undefined): void {
    if (!this.#streaming) return;
    if (r !== undefined) {
      logErrors(this.#log, this.#ctx, r.errors);
      if (this.#findings(r.findings)) return;
      this.#release(true);
    }
    for (const raw of this.#terminal) this.#out.push(raw);
    this.#streaming = false;
    const out = this.#out;
    this.#out = [];
    this.#next.end(out.length === 0 ? undefined : out.join(''));
  }

  #events(events: SseEvent[]): void {
    for (const ev of events) {
      if (!this.#streaming) return;
      const data = eventJson(ev);
      if (typeof data === 'object' && data !== null) {
        const seq = (data as { sequence_number?: unknown }).sequence_number;
        if (typeof seq === 'number') this.#sequence = seq + 1;
      }
      const call = this.#watcher?.push({ event: ev.event, data });
      if (call !== undefined) {
        this.#refuseTool(call);
        return;
      }
      // Held back until the stream is known clean: after them a client stops reading.
      if (isTerminalEvent(ev)) {
        this.#terminal.push(ev.raw);
        continue;
      }
      const scanner = this.#scanner;
      if (scanner === undefined) {
        this.#send(ev.raw);
        continue;
      }
      const held: HeldEvent = { raw: ev.raw, path: undefined, at: 0, more: undefined };
      let found: ScanFinding[] | undefined;
      if (data !== undefined) {
        for (const d of streamDeltas(this.#ctx.surface, data)) {
          const now = scanner.push(d.path, d.text);
          if (now.length > 0) found = found === undefined ? now.slice() : found.concat(now);
          const fed = (this.#fed.get(d.path) ?? 0) + d.text.length;
          this.#fed.set(d.path, fed);
          if (held.path === undefined) {
            held.path = d.path;
            held.at = fed;
          } else {
            held.more ??= [];
            held.more.push([d.path, fed]);
          }
        }
      }
      if (found !== undefined && this.#findings(found)) return;
      this.#queue.push(held);
      this.#release(false);
    }
  }

  #send(raw: string): void {
    this.#out.push(raw);
  }

  /**
   * Writes what this chunk cleared. The first write leaves at once (the client's time to first byte
   * does not wait for the turn), and only after the whole first chunk was checked; with a scanner, the
   * head and the events before the first text (message_start…) wait for that text to be checked, so a
   * credential at the very start of the answer is still a real HTTP error.
   */
  #emit(): void {
    const out = this.#out;
    if (out.length === 0 || (!this.#sentFirst && this.#scanner !== undefined && !this.#textCleared)) return;
    this.#next.write(out.length === 1 ? out[0] : out.join(''));
    this.#out = [];
    if (!this.#sentFirst) {
      this.#sentFirst = true;
      this.#next.flush();
    }
  }

  /** Nothing reached the client yet: the refusal can be a real HTTP error instead of a stream event. */
  #refuseWhole(status: number, body: unknown): boolean {
    if (this.#sentFirst || this.#next.refuse?.(status, body) !== true) return false;
    this.#streaming = false;
    this.#out = [];
    this.#ctx.upstream?.cancel();
    return true;
  }

  /**
   * The text of `path` up to `at` can go out: no match still in progress can include any of it (the
   * scanner knows where a credential may still be arriving: a keyword whose match is incomplete, a
   * keyword cut off at the end, a match found but not yet certain).
   */
  #cleared(path: string, at: number): boolean {
    return at <= this.#scanner!.releasableTo(path);
  }

  /** Sends held events, in order, once enough text followed each that any match in it was reported. */
  #release(all: boolean): void {
    const queue = this.#queue;
    let i = 0;
    for (; i < queue.length; i++) {
      const held = queue[i];
      if (!all && held.path !== undefined) {
        if (!this.#cleared(held.path, held.at)) break;
        if (held.more !== undefined && !held.more.every(([path, at]) => this.#cleared(path, at))) break;
      }
      if (held.path !== undefined) this.#textCleared = true;
      this.#send(held.raw);
    }
    if (i > 0) queue.splice(0, i);
  }

  /** Reports response findings to the call (for audit); ends the stream on a block. True when blocked. */
  #findings(found: ScanFinding[]): boolean {
    if (found.length === 0) return false;
    const ctx = this.#ctx;
    const findings = found.map(policyFinding);
    for (const f of findings) ctx.reportFinding(f);
    const blocks = findings.filter((f) => f.action === 'block');
    if (blocks.length === 0) return false;
    if (this.#refuseWhole(GUARDRAIL_BLOCKED_STATUS, guardrailErrorBody(ctx.format!, blocks))) return true;
    this.#end(guardrailErrorEvent(ctx.format!, ctx.surface, blocks, this.#sequence));
    return true;
  }

  #refuseTool(call: DeniedToolCall): void {
    const ctx = this.#ctx;
    ctx.reportDeniedCall(call);
    const options = {
      offered: offeredOf(ctx, call.name),
      scope: ctx.key?.toolScope,
      sequenceNumber: this.#sequence,
    };
    if (this.#refuseWhole(DENIED_TOOL_STATUS, deniedToolErrorBody(ctx.surface, call.name, options))) return;
    this.#end(deniedToolErrorEvent(ctx.surface, call.name, options));
  }

  #end(event: Uint8Array): void {
    this.#streaming = false;
    this.#textCleared = true;
    this.#emit();
    this.#next.end(event);
    this.#ctx.upstream?.cancel();
  }
}
