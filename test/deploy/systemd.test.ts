// The systemd unit parses cleanly with systemd's own verifier (every directive known and valid) and
// keeps its hardening; skipped where systemd-analyze is not installed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';

const UNIT = join(REPO_ROOT, 'deploy', 'systemd', 'portcullis.service');
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

function verify(text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-unit-'));
  const file = join(dir, 'portcullis.service');
  // Point ExecStart at this checkout so the verifier can find the program.
  writeFileSync(file, text.replaceAll('/opt/portcullis', REPO_ROOT));
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim();
}

test('systemd-analyze verify accepts the unit', {
  skip: !hasAnalyze && 'systemd-analyze is not installed',
}, () => {
  const text = readFileSync(UNIT, 'utf8');
  assert.equal(verify(text), '');
  assert.match(
    verify(text.replace('ProtectSystem=strict', 'ProtectSystem=bogus')),
    /ProtectSystem|protect system/i,
  );
  for (const directive of [
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'CapabilityBoundingSet=',
    'SystemCallFilter=@system-service',
    'KillSignal=SIGTERM',
  ]) {
    assert.ok(text.includes(directive), directive);
  }
});
