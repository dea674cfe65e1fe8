// The audit plugin: one audit record per call, from the pipeline's frozen record once the call is
// settled, and the mapping from the Gateway policy's sink settings to the audit library's.
//
// Content (request and response text) is recorded only for keys whose policy turns `contentLogging`
// on, and only as content-capture.ts redacts it; other keys pay nothing for it. The response capture
// is this plugin's own per-call state (a filter it adds in the respond stage), so it lives here.
import type { AuditLog, AuditRecord, AuditSinkConfig, HeaderValue } from '../../audit/index.ts';
import type { GatewaySettings } from '../../policy/snapshot.ts';
import type { Call } from '../call.ts';
import { type CallRecord, callRecord } from '../outcome.ts';
import type { Plugin } from '../plugin.ts';
import { usageOf } from '../usage.ts';
import { ResponseCapture, requestContent, responseContent, textContent } from './content-capture.ts';
import type { PluginLogger } from './limits.ts';

export interface AuditPluginOptions {
  /** The audit log records go to (opened from these settings if nothing is open yet). */
  log(settings: GatewaySettings): AuditAppender | undefined;
  /** Which gateway replica this is (recorded in every record). */
  instance: string;
  logger?: PluginLogger;
}

/**
 * What the plugin needs of a log: the AuditLog itself, or a cluster worker's journal in front of its
 * link to the primary's log (src/cluster/worker-audit.ts).
 */
export type AuditAppender = Pick<AuditLog, 'append'> & Partial<Pick<AuditLog, 'appendProvisional'>>;

export function createAuditPlugin(opts: AuditPluginOptions): Plugin {
  const { instance, logger } = opts;
  const captures = new WeakMap<Call, ResponseCapture>();
  return {
    name: 'audit',

    respond(call) {
      if (call.key?.contentLogging !== true) return undefined;
      const capture = new ResponseCapture(call);
      captures.set(call, capture);
      return capture;
    },

    // The record as it stands when the client is about to have its answer goes to the audit journal
    // first: if the process dies before the final record is committed, this one is (journal.ts).
    ending(call) {
      const log = opts.log(call.snapshot.gateway);
      if (log === undefined) return;
      const settled = call.usage;
      if (call.outcome === 'forwarded' || call.upstreamError !== null) call.usage = usageOf(call);
      try {
        log.appendProvisional?.(auditRecord(callRecord(call), instance));
      } finally {
        call.usage = settled;
      }
    },

    async audit(frozen, call) {
      const log = opts.log(call.snapshot.gateway);
      if (log === undefined) return;
      const record = auditRecord(frozen, instance);
      if (call.key?.contentLogging === true) {
        try {
          record.content = await contentOf(call, captures.get(call));
        } catch (err) {
          // Never store what could not be redacted; the record itself still goes in.
          logger?.error({ reqId: call.id, err: (err as Error).message }, 'audit content not recorded');
        }
      }
      try {
        log.append(record);
      } catch (err) {
        // The queue was full and the inline write failed too: the disk is gone. The call is over.
        logger?.error({ reqId: call.id, err: (err as Error).message }, 'audit record not written');
      }
    },
  };
}

/** The audit record of a finished call (what the audit plugin appends, before content). */
export function auditRecord(frozen: CallRecord, instance: string): AuditRecord {
  return { ...frozen, instance };
}

async function contentOf(call: Call, capture: ResponseCapture | undefined): Promise<AuditRecord['content']> {
  const [request, response] =
    call.api === 'mcp'
      ? [textContent(call.body === null ? null : JSON.stringify(call.body)), textContent(call.answerText)]
      : await Promise.all([requestContent(call), responseContent(call, capture)]);
  const content: NonNullable<AuditRecord['content']> = {};
  if (request !== undefined) content.request = request;
  if (response !== undefined) content.response = response;
  return content;
}

/** A sink as the Gateway kind declares it (headers reference env vars as `{fromEnv, prefix?}`). */
interface PolicySink {
  type: AuditSinkConfig['type'];
  headers?: Record<string, { fromEnv: string; prefix?: string } | string>;
  [field: string]: unknown;
}

/** The Gateway policy's `audit.sinks` in the audit library's form (`{fromEnv}` → `{env}`). */
export function auditSinkConfigs(sinks: readonly unknown[]): AuditSinkConfig[] {
  return sinks.map((raw) => {
    const sink = raw as PolicySink;
    if (sink.headers === undefined) return sink as unknown as AuditSinkConfig;
    const headers: Record<string, HeaderValue> = {};
    for (const [name, value] of Object.entries(sink.headers)) {
      headers[name] =
        typeof value === 'string'
          ? value
          : value.prefix === undefined
            ? { env: value.fromEnv }
            : { env: value.fromEnv, prefix: value.prefix };
    }
    return { ...sink, headers } as unknown as AuditSinkConfig;
  });
}
