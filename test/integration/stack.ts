// The real thing in one process: the example policy (its Rego compiled to Wasm by buildSnapshot), the
// gateway and the simulator as every provider's upstream, on free ports.

import { createGateway, type Gateway } from '../../src/gateway/server.ts';
import { SnapshotHolder } from '../../src/gateway/snapshot-holder.ts';
import type { UsageEvent } from '../../src/gateway/usage.ts';
import { buildSnapshot } from '../../src/policy/build-snapshot.ts';
import type { Snapshot } from '../../src/policy/snapshot.ts';
import { Simulator, type SimulatorOptions } from '../../src/simulator/server.ts';
import { examplePolicyCopy, type KeyRole } from '../fixtures/keys.ts';
import { collectUsageEvents } from '../fixtures/usage-events.ts';

/** What the gateway sends upstream; the simulator records only their hashes. */
export const PROVIDER_SECRETS = {
  OPENAI_API_KEY: 'sk-integration-openai',
  ANTHROPIC_API_KEY: 'sk-ant-integration',
  GEMINI_API_KEY: 'integration-gemini',
};

export interface RealStack {
  sim: Simulator;
  gw: Gateway;
  url: string;
  snapshot: Snapshot;
  keys: Record<KeyRole, string>;
  events: UsageEvent[];
  nextEvent(): Promise<UsageEvent>;
  close(): Promise<void>;
}

export async function startRealStack(simOpts?: SimulatorOptions): Promise<RealStack> {
  const sim = new Simulator(simOpts);
  const simUrl = await sim.listen();
  const env = {
    ...process.env,
    ...PROVIDER_SECRETS,
    PORTCULLIS_UPSTREAM_OPENAI: simUrl,
    PORTCULLIS_UPSTREAM_ANTHROPIC: simUrl,
    PORTCULLIS_UPSTREAM_GOOGLE: simUrl,
  };
  // The gateway reads provider credentials from its own environment.
  Object.assign(process.env, PROVIDER_SECRETS);
  const { dir, keys } = examplePolicyCopy();
  const snapshot = await buildSnapshot({ dir, env });
  const { plugin, events, nextEvent } = collectUsageEvents();
  const gw = createGateway({ holder: new SnapshotHolder(snapshot), plugins: [plugin], logLevel: 'warn' });
  const url = await gw.listen(0);
  return {
    sim,
    gw,
    url,
    snapshot,
    keys,
    events,
    nextEvent,
    async close() {
      await gw.close();
      await sim.close();
    },
  };
}
