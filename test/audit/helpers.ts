// Shared fixtures for the audit tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '../../src/audit/record.ts';

export function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-audit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A plausible record; `i` varies the request id and time (one second apart from 2025-06-01). */
export function makeRecord(i: number, overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    requestId: `req-${i}`,
    time: new Date(Date.UTC(2025, 5, 1) + i * 1000).toISOString(),
    keyId: 'alice-laptop',
    owner: 'alice',
    team: 'platform',
    session: `sess-${Math.floor(i / 10)}`,
    userAgent: 'claude-cli/1.0.0',
    surface: 'anthropic.messages',
    provider: 'anthropic',
    model: 'claude-sonnet-4',
    stream: true,
    tokens: { input: 1000 + i, output: 200, cached: 50 },
    costUsd: 0.0042,
    outcome: 'allowed',
    decision: { allow: true, status: 200, code: 'ok', reasons: [] },
    findings: [],
    tools: { stripped: [], deniedCalls: [] },
    latency: { totalMs: 812, upstreamMs: 790, gatewayMs: 22 },
    policyRevision: '3f2a9c1d0b7e6a5f4c3b2a19087f6e5d4c3b2a10',
    instance: 'gw-1',
    ...overrides,
  };
}

export const silentLogger = { warn() {}, error() {} };
