// The one builder of what the policy reads (`DecisionInput`), for inference calls, MCP calls and the
// policy replay, so the three cannot drift apart. Callers gather the facts their way (a request, an
// MCP message, an audit record); this puts them in the contract's shape.
import type { AuthStatus, DecisionInput, GuardrailFinding, RouteFacts, Surface } from '../policy/decision.ts';
import { keyFacts } from '../policy/key-facts.ts';
import type { ModelPrice, ProviderApi, ResolvedKey, ResolvedProvider, Snapshot } from '../policy/snapshot.ts';
import { priceFor } from '../providers/pricing.ts';

export interface CallFacts {
  surface: Surface;
  provider?: string;
  model?: string;
  pricedModel?: string;
  stream?: boolean;
  tools?: string[];
  unreadableTools?: DecisionInput['unreadableTools'];
  sizes?: DecisionInput['sizes'];
  auth: { status: AuthStatus; enforced: boolean; reason?: string };
  key: ResolvedKey | null;
  session?: string;
  userAgent?: string;
  mcp?: { server: string; tool: string };
  /** The policy Route serving the call, when one matches. */
  route?: RouteFacts;
  usage?: DecisionInput['usage'];
  /** Request findings; the array is kept (not copied), so response findings can join it later. */
  findings?: GuardrailFinding[];
  nowMs: number;
}

const NO_SIZES = { bodyBytes: 0, estimatedInputTokens: 0, maxOutputTokens: 0 };

export function decisionInput(f: CallFacts): DecisionInput {
  const input: DecisionInput = {
    surface: f.surface,
    provider: f.provider ?? '',
    model: f.model ?? '',
    pricedModel: f.pricedModel,
    stream: f.stream ?? false,
    tools: f.tools ?? [],
    sizes: f.sizes ?? NO_SIZES,
    auth: f.auth,
    key: f.key === null ? null : keyFacts(f.key),
    session: f.session,
    userAgent: f.userAgent,
    usage: f.usage ?? { budgets: [], rateLimits: [] },
    guardrails: { findings: f.findings ?? [] },
    nowNs: f.nowMs * 1_000_000,
  };
  if (f.mcp !== undefined) input.mcp = f.mcp;
  if (f.route !== undefined) input.route = f.route;
  if (f.unreadableTools !== undefined && f.unreadableTools.length > 0)
    input.unreadableTools = f.unreadableTools;
  return input;
}

/** Which provider serves `model` on `api`, and its price entry: the same lookup everywhere. */
export function modelFacts(
  snapshot: Snapshot,
  api: ProviderApi,
  model: string,
): { provider: ResolvedProvider | undefined; price: ModelPrice | undefined } {
  const provider = model === '' ? undefined : snapshot.providerFor(api, model);
  return { provider, price: provider === undefined ? undefined : priceFor(provider, model) };
}

/** Input tokens the policy is told to expect for a body: a rough four bytes per token. */
export function estimatedInputTokens(bodyBytes: number): number {
  return Math.ceil(bodyBytes / 4);
}
