// The composite action's bundle inputs and outputs, as a workflow would use them, pass actionlint
// (which reads the local action's metadata); skipped where actionlint is not installed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ACTIONLINT, findTool, REPO_ROOT } from '../../src/toolchain/tools.ts';

const actionlint = findTool(ACTIONLINT);

test('a workflow publishing the signed bundle passes actionlint', {
  skip: !actionlint && 'actionlint is not installed (npm run setup)',
}, () => {
  const repo = mkdtempSync(join(tmpdir(), 'portcullis-action-'));
  cpSync(join(REPO_ROOT, '.github/actions/policy-check'), join(repo, '.github/actions/policy-check'), {
    recursive: true,
  });
  mkdirSync(join(repo, '.github/workflows'), { recursive: true });
  const workflow = (output: string) => `on: { push: { branches: [main] } }
jobs:
  policy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: { fetch-depth: 0 }
      - uses: ./.github/actions/policy-check
        id: policy
        with:
          bundle-signing-key: \${{ secrets.PORTCULLIS_BUNDLE_SIGNING_KEY }}
          bundle-key-id: ci-2027
      - run: aws s3 cp "$BUNDLE" "s3://acme-policy/bundle-$REVISION.tar.gz"
        env:
          BUNDLE: \${{ steps.policy.outputs.${output} }}
          REVISION: \${{ steps.policy.outputs.revision }}
`;
  writeFileSync(join(repo, '.github/workflows/policy.yml'), workflow('bundle'));
  spawnSync('git', ['init', '-q'], { cwd: repo });
  const ok = spawnSync(actionlint!, ['-no-color'], { cwd: repo, encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  writeFileSync(join(repo, '.github/workflows/policy.yml'), workflow('bundel'));
  const typo = spawnSync(actionlint!, ['-no-color'], { cwd: repo, encoding: 'utf8' });
  assert.notEqual(typo.status, 0);
  assert.match(typo.stdout, /bundel/);
});
