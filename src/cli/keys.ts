// `portcullis keys create`: mints a virtual key, prints it once, and writes a VirtualKey document
// that holds only its SHA-256. The key is never stored anywhere by Portcullis.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { checkPolicy } from '../policy/build-snapshot.ts';
import { formatProblem } from '../policy/problems.ts';

export const KEY_PREFIX = 'pcl_';

/** 256 bits from the CSPRNG, base64url: `pcl_` + 43 characters. */
export function generateVirtualKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function hashVirtualKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

const list = (v: string | undefined) =>
  v
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export async function create(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      owner: { type: 'string' },
      team: { type: 'string' },
      models: { type: 'string' },
      providers: { type: 'string' },
      'tool-scope': { type: 'string' },
      'guardrail-chain': { type: 'string' },
      expires: { type: 'string' },
      description: { type: 'string' },
      dir: { type: 'string', default: 'policies' },
      file: { type: 'string' },
    },
  });
  const name = values.name ?? positionals[0];
  const missing = (['owner', 'team', 'models'] as const).filter((k) => !values[k]);
  if (!name || missing.length > 0) {
    process.stderr.write(
      'usage: portcullis keys create --name ID --owner EMAIL --team TEAM --models "glob,glob" ' +
        '[--providers a,b] [--tool-scope S] [--guardrail-chain C] [--expires ISO-8601] [--dir policies] [--file path]\n',
    );
    return 2;
  }
  const dir = resolve(values.dir);
  const file = resolve(values.file ?? join(dir, 'keys', `${name}.yaml`));
  if (existsSync(file)) {
    process.stderr.write(
      `${relative(process.cwd(), file)} already exists; choose another --name or --file\n`,
    );
    return 1;
  }
  const key = generateVirtualKey();
  const doc = {
    apiVersion: 'portcullis.dev/v1',
    kind: 'VirtualKey',
    metadata: { name, ...(values.description ? { description: values.description } : {}) },
    spec: {
      owner: values.owner,
      team: values.team,
      keyHash: `sha256:${hashVirtualKey(key)}`,
      ...(values.providers ? { providers: list(values.providers) } : {}),
      models: list(values.models),
      ...(values['tool-scope'] ? { toolScope: values['tool-scope'] } : {}),
      ...(values['guardrail-chain'] ? { guardrailChain: values['guardrail-chain'] } : {}),
      ...(values.expires ? { expiresAt: values.expires } : {}),
    },
  };
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(
    file,
    `# Created with \`portcullis keys create\`; only the hash of the key is stored here.\n${stringify(doc)}`,
  );
  // The new document must leave the policy valid; otherwise take it back.
  const problems = checkPolicy(dir).problems;
  if (problems.length > 0) {
    rmSync(file);
    for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
    process.stderr.write('✗ key not created: the policy would be invalid\n');
    return 1;
  }
  process.stderr.write(
    `✓ wrote ${relative(process.cwd(), file)} (VirtualKey ${name}); commit it and open a pull request.\n`,
  );
  process.stderr.write(
    '  The key below is shown once. Hand it to its owner over a secure channel; it is not stored.\n',
  );
  process.stdout.write(`${key}\n`);
  return 0;
}
