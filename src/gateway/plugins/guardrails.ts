// The guardrails plugin: guardrail chains and agent-tool refusal.
//   inspect   scan what the provider would see with the key's chain → findings for the decision
//   rewrite   redact the findings the decision lists (decision.redact)
//   respond   the response filter: stream events are scanned and watched for denied tool calls as
//             they pass; a response-stage `block` finding or a denied call ends the stream with the
//             surface's error event and cancels the upstream. Non-streamed bodies are held whole and
//             replaced (status included) when refused. Findings and denied calls are reported to the
//             call for audit; the decision is never touched.
// Chains compile once per snapshot; no filter at all when the chain has no response step and no
// tool is denied.
import { redactRequest, type ScanFinding, type ScanResult, scanRequest } from '../../guardrails/index.ts';
import type { Plugin } from '../plugin.ts';
import { chainFor, hasStage, logErrors, policyFinding } from './guardrail-chains.ts';
import type { PluginLogger } from './limits.ts';
import { ResponseGuard } from './response-guard.ts';
import { deniedToolsFor } from './tool-scope.ts';

export interface GuardrailsPluginOptions {
  logger: PluginLogger;
}

export function createGuardrailsPlugin(opts: GuardrailsPluginOptions): Plugin {
  const log = opts.logger;
  return {
    name: 'guardrails',

    inspect(call) {
      const chain = chainFor(call.snapshot, call.key);
      const body = call.body;
      if (chain === undefined || body === null || !hasStage(chain, 'request')) return undefined;
      const scanned = (r: ScanResult) => {
        logErrors(log, call, r.errors);
        if (r.findings.length === 0) return undefined;
        return { findings: r.findings.map(policyFinding), scan: { findings: r.findings, body } };
      };
      // Synchronous unless a step calls an external service.
      const r = scanRequest(chain, call.surface, body);
      return r instanceof Promise ? r.then(scanned) : scanned(r);
    },

    rewrite(call, decision) {
      const scan = call.scan;
      if (decision.redact.length === 0 || scan === null || call.body === null) return undefined;
      const wanted = new Set(decision.redact);
      const findings = scan.findings.filter((f) => wanted.has(f.fingerprint)) as ScanFinding[];
      if (findings.length === 0) return undefined;
      return { body: redactRequest(call.surface, call.body, findings) };
    },

    respond(call) {
      const chain = chainFor(call.snapshot, call.key);
      const scans = hasStage(chain, 'response') ? chain : undefined;
      const denied = deniedToolsFor(call);
      if (scans === undefined && denied === undefined) return undefined;
      return new ResponseGuard(call, scans, denied, log);
    },
  };
}
