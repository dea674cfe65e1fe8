// A gateway whose policy trusts the test OpenID Provider: the example policy with the metered
// model, team app-dev's members template limited to it with a small daily budget per person.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { e2ePolicy, INPUT_METERED_MODEL, METERED_MODEL } from '../e2e/helpers.ts';
import { AUDIENCE, CLIENT_ID } from './oidc-server.ts';

/** Per-person daily budget: two metered calls (0.01 USD each) fit, a third does not. */
export const MEMBER_DAILY_USD = 0.025;

export function identityPolicy(issuer: string, opts: { redis?: boolean; lifetime?: string } = {}): string {
  const { dir } = e2ePolicy([], { redis: opts.redis });
  writeFileSync(
    join(dir, 'identity', 'acme-sso.yaml'),
    stringify({
      apiVersion: 'portcullis.dev/v1',
      kind: 'IdentityProvider',
      metadata: { name: 'acme-sso' },
      spec: {
        issuer,
        clientId: CLIENT_ID,
        audience: AUDIENCE,
        acceptAccessTokens: true,
        scopes: ['openid', 'email', 'groups', 'offline_access'],
        teams: [
          { group: 'platform-engineering', team: 'platform' },
          { group: 'app-developers', team: 'app-dev' },
        ],
        roles: [
          { group: 'security-audit', roles: ['auditor'] },
          { group: 'platform-engineering', roles: ['key-admin', 'viewer'] },
        ],
        personalKeys: { lifetime: opts.lifetime ?? '12h' },
      },
    }),
  );
  const teamsFile = join(dir, 'teams', 'acme.yaml');
  const docs = parseAllDocuments(readFileSync(teamsFile, 'utf8'));
  if (!Array.isArray(docs)) throw new Error('cannot parse teams');
  for (const doc of docs) {
    const name = doc.getIn(['metadata', 'name']);
    if (name === 'app-dev') {
      doc.setIn(
        ['spec', 'members'],
        doc.createNode({
          models: [METERED_MODEL, INPUT_METERED_MODEL],
          budgets: [{ amountUsd: MEMBER_DAILY_USD, period: 'daily' }],
        }),
      );
    }
    if (name === 'platform') {
      doc.setIn(['spec', 'members'], doc.createNode({ models: [METERED_MODEL] }));
    }
  }
  writeFileSync(teamsFile, docs.map((d) => String(d)).join(''));
  return dir;
}

export function tempConfigEnv(): NodeJS.ProcessEnv {
  return { PORTCULLIS_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'portcullis-cli-config-')) };
}
