// `npm run setup` / `npm start` / `npm test`: makes this machine ready. Without flags only OPA, which
// serving needs; --lint adds Regal and actionlint; --with-redis adds redis-server for the store tests;
// --with-observability adds rsyslog, Chromium, Jaeger and gofakes3 for the observability tests.
// --with-vault builds a Vault server for the secret-manager tests (heavy; opt-in).
import { setup } from '../src/toolchain/setup.ts';
import { ToolMissingError } from '../src/toolchain/tools.ts';
import { buildVault } from '../src/toolchain/vault.ts';

const args = process.argv.slice(2);
try {
  await setup({
    lint: args.includes('--lint'),
    withRedis: args.includes('--with-redis'),
    withObservability: args.includes('--with-observability'),
  });
  // --with-vault: a real Vault server for the secret-manager tests (a stand-in of its API otherwise).
  if (args.includes('--with-vault')) {
    const log = (line: string) => process.stderr.write(`[setup] ${line}\n`);
    log(
      `vault: ${await buildVault(log).catch((e: Error) => `not built (${e.message}); the tests use the stand-in`)}`,
    );
  }
} catch (err) {
  if (!(err instanceof ToolMissingError)) throw err;
  process.stderr.write(`[setup] ${err.message}\n`);
  process.exitCode = 1;
}
