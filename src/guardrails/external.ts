// An external guardrail service: POST the texts, read back findings.
//
// Request body:  {"chain": "...", "step": 2, "stage": "request", "surface": "openai.chat",
//                 "texts": [{"path": "messages[0].content", "text": "..."}]}
// Response body: {"findings": [{"rule": "toxicity", "path": "messages[0].content", "start": 4, "end": 9}]}
// `rule` defaults to `external`; without start/end a finding covers the whole text at `path`. Any
// other answer (non-2xx, not JSON, unknown path) counts as a failure of the service.
import { type Dispatcher, request } from 'undici';
import type { CompiledChain, CompiledStep } from './compile.ts';
import { finding } from './findings.ts';
import type { StepError } from './scan.ts';
import type { ScanFinding, Stage } from './types.ts';

export interface ExternalHeader {
  name: string;
  fromEnv: string;
}

export interface ExternalConfig {
  url: string;
  timeoutMs: number;
  failMode: 'open' | 'closed';
  headers: ExternalHeader[];
}

export interface ExternalVerdict {
  rule: string;
  path: string;
  start?: number;
  end?: number;
}

export interface ExternalCall {
  chain: string;
  step: number;
  stage: 'request' | 'response';
  surface: string;
  texts: { path: string; text: string }[];
}

const MAX_ANSWER_BYTES = 1024 * 1024;
const RULE_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Calls the service; resolves with its findings or rejects with an Error that names no secret. */
export async function callExternal(
  cfg: ExternalConfig,
  call: ExternalCall,
  env: Record<string, string | undefined>,
  dispatcher?: Dispatcher,
): Promise<ExternalVerdict[]> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  for (const h of cfg.headers) {
    const value = env[h.fromEnv];
    if (value === undefined || value === '')
      throw new Error(`header ${h.name}: environment variable ${h.fromEnv} is not set`);
    headers[h.name.toLowerCase()] = value;
  }
  const signal = AbortSignal.timeout(cfg.timeoutMs);
  let res: Dispatcher.ResponseData;
  try {
    res = await request(cfg.url, { method: 'POST', headers, body: JSON.stringify(call), signal, dispatcher });
  } catch (err) {
    throw new Error(
      signal.aborted ? `no answer within ${cfg.timeoutMs} ms` : `request failed: ${(err as Error).message}`,
    );
  }
  let raw: string;
  try {
    raw = await readCapped(res.body);
  } catch (err) {
    throw new Error(
      signal.aborted
        ? `no complete answer within ${cfg.timeoutMs} ms`
        : `reading answer failed: ${(err as Error).message}`,
    );
  }
  if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`answered HTTP ${res.statusCode}`);
  let answer: unknown;
  try {
    answer = JSON.parse(raw);
  } catch {
    throw new Error('answer is not JSON');
  }
  return parseVerdicts(answer, call.texts);
}

async function readCapped(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) {
      body.destroy();
      throw new Error('answer larger than 1 MiB');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseVerdicts(answer: unknown, texts: { path: string; text: string }[]): ExternalVerdict[] {
  if (typeof answer !== 'object' || answer === null) throw new Error('answer is not an object');
  const list = (answer as { findings?: unknown }).findings ?? [];
  if (!Array.isArray(list)) throw new Error('answer.findings is not an array');
  const lengths = new Map(texts.map((t) => [t.path, t.text.length]));
  return list.map((f, i) => {
    if (typeof f !== 'object' || f === null) throw new Error(`answer.findings[${i}] is not an object`);
    const { rule, path, start, end } = f as Record<string, unknown>;
    if (typeof path !== 'string' || !lengths.has(path))
      throw new Error(`answer.findings[${i}].path is not a path that was sent`);
    const verdict: ExternalVerdict = {
      rule: typeof rule === 'string' && RULE_ID.test(rule) ? rule : 'external',
      path,
    };
    if (start !== undefined || end !== undefined) {
      const len = lengths.get(path)!;
      if (
        !Number.isInteger(start) ||
        !Number.isInteger(end) ||
        (start as number) < 0 ||
        (end as number) > len ||
        (start as number) >= (end as number)
      ) {
        throw new Error(`answer.findings[${i}] has an invalid start/end`);
      }
      verdict.start = start as number;
      verdict.end = end as number;
    }
    return verdict;
  });
}

/** The URL without query or fragment, for messages. */
function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

/** Runs one external step; failures become an error and, when the step fails closed, a blocking finding. */
export async function runExternal(
  chain: CompiledChain,
  step: CompiledStep,
  stage: Stage,
  surface: string,
  texts: { path: string; text: string }[],
): Promise<{ findings: ScanFinding[]; error?: StepError }> {
  const cfg = step.external!;
  try {
    const verdicts = await callExternal(
      cfg,
      { chain: chain.name, step: step.index, stage, surface, texts },
      chain.env,
      chain.dispatcher,
    );
    const byPath = new Map(texts.map((t) => [t.path, t.text]));
    return {
      findings: verdicts.map((v) => {
        const text = byPath.get(v.path)!;
        const start = v.start ?? 0;
        const end = v.end ?? text.length;
        return finding(chain, step, stage, v.path, {
          rule: v.rule,
          type: 'external',
          start,
          end,
          fingerprint: chain.fingerprint(text.slice(start, end)),
        });
      }),
    };
  } catch (err) {
    const error: StepError = {
      step: step.index,
      detector: 'external',
      message: `external guardrail ${displayUrl(cfg.url)}: ${(err as Error).message}`,
    };
    if (cfg.failMode === 'open') return { findings: [], error };
    return {
      findings: [
        {
          rule: 'external_unavailable',
          type: 'external',
          stage,
          path: '$',
          action: 'block',
          fingerprint: chain.fingerprint(`external_unavailable:${displayUrl(cfg.url)}`),
          chain: chain.name,
          step: step.index,
        },
      ],
      error,
    };
  }
}
