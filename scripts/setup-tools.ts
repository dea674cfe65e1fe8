// `npm run setup` / `npm start` / `npm test`: makes this machine ready. Without flags only OPA, which
// serving needs; --lint adds Regal and actionlint; --with-redis adds redis-server for the store tests;
// --with-observability adds rsyslog, Chromium, Jaeger and gofakes3 for the observability tests.
import { setup } from '../src/toolchain/setup.ts';
import { ToolMissingError } from '../src/toolchain/tools.ts';

const args = process.argv.slice(2);
try {
  await setup({
    lint: args.includes('--lint'),
    withRedis: args.includes('--with-redis'),
    withObservability: args.includes('--with-observability'),
  });
} catch (err) {
  if (!(err instanceof ToolMissingError)) throw err;
  process.stderr.write(`[setup] ${err.message}\n`);
  process.exitCode = 1;
}
