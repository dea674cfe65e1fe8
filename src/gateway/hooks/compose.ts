// Several concerns (limits, guardrails, tool governance, audit) each contribute some pipeline hooks;
// this runs them in the order given, and chains their response transforms.
import { compose, type Transform } from 'node:stream';
import type { PipelineHooks, RequestContext } from '../context.ts';
import { REWRITES_HEAD } from '../forward.ts';

type SequentialHook = 'reserve' | 'requestGuardrails' | 'beforeForward' | 'settle' | 'audit';
const SEQUENTIAL: SequentialHook[] = ['reserve', 'requestGuardrails', 'beforeForward', 'settle', 'audit'];

export function composeHooks(...parts: PipelineHooks[]): PipelineHooks {
  const out: PipelineHooks = {};
  for (const name of SEQUENTIAL) {
    const fns = parts.map((p) => p[name]?.bind(p)).filter((f) => f !== undefined);
    if (fns.length === 1) out[name] = fns[0];
    else if (fns.length > 1) {
      out[name] = async (ctx: RequestContext) => {
        for (const fn of fns) {
          // A hook that refuses the call (sets a denial) ends the pre-decision stages.
          if ((name === 'reserve' || name === 'requestGuardrails') && ctx.decision !== null) return;
          await fn(ctx);
        }
      };
    }
  }
  const transforms = parts.map((p) => p.responseGuardrails?.bind(p)).filter((f) => f !== undefined);
  if (transforms.length === 1) out.responseGuardrails = transforms[0];
  else if (transforms.length > 1) {
    out.responseGuardrails = (ctx) => {
      const active = transforms.map((t) => t(ctx)).filter((t) => t !== undefined);
      if (active.length <= 1) return active[0];
      // node:stream's compose() types want a tuple; the streams are plain Transforms.
      const out = (compose as (...streams: Transform[]) => unknown)(...active) as Transform;
      // forward.ts delays the head for a filter that may replace the answer; composing must keep that.
      if (active.some((t) => (t as { [REWRITES_HEAD]?: boolean })[REWRITES_HEAD] === true))
        Object.defineProperty(out, REWRITES_HEAD, { value: true });
      return out;
    };
  }
  return out;
}
