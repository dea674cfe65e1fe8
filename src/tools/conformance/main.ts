// `npm run agents:capture [-- --agents <dir> --out <dir> --only codex]`: re-captures request fixtures
// from the coding agents installed under `--agents` (default /work/agents/node_modules/.bin) and
// reports request shapes the gateway does not recognise. Exits 1 when there are any, or when an agent
// could not be captured.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { agentSpecs, captureAgent } from './capture.ts';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '/work/agents/node_modules/.bin' },
    out: { type: 'string', default: 'test/fixtures/agents' },
    only: { type: 'string', multiple: true },
    'timeout-ms': { type: 'string', default: '180000' },
  },
});
let failed = false;
for (const spec of agentSpecs(resolve(values.agents))) {
  if (values.only && !values.only.includes(spec.name)) continue;
  const r = await captureAgent(spec, resolve(values.out), Number(values['timeout-ms']));
  if (r.error) {
    failed = true;
    process.stdout.write(`${spec.name}: not captured: ${r.error}\n`);
    continue;
  }
  process.stdout.write(`${r.agent} ${r.version}: ${r.requests} requests → ${r.dir}\n`);
  if (r.requests === 0) failed = true;
  for (const u of r.unrecognised) process.stdout.write(`  not recognised: ${u}\n`);
  if (r.unrecognised.length > 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
