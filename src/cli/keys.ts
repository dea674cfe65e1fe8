// `portcullis keys create`: mints a virtual key, prints it once, and writes a VirtualKey document
// that holds only its SHA-256. The key is never stored anywhere by Portcullis.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { stringify } from 'yaml';
import { checkPolicy } from '../policy/build-snapshot.ts';
import { formatProblem } from '../policy/problems.ts';
import { policyDirArg } from './args.ts';
import { EXIT, usageError } from './errors.ts';
import { failed, json } from './output.ts';
import type { ParsedOptions } from './program.ts';

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

export async function create(args: string[], opts: ParsedOptions): Promise<number> {
  const values = opts as Record<string, string | undefined>;
  const name = values.name ?? args[0];
  const missing = [
    name ? '' : '--name',
    ...(['owner', 'team', 'models'] as const).filter((k) => !values[k]).map((k) => `--${k}`),
  ].filter(Boolean);
  if (missing.length > 0)
    throw usageError(
      `missing ${missing.join(', ')}`,
      'e.g. portcullis keys create ana-dev --owner ana@example.com --team app-dev --models "claude-haiku-*"',
    );
  if (!/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/.test(name as string))
    throw usageError(`key name '${name}' must be lower-case letters, digits, '.', '_' and '-' (at most 63)`);
  const dir = policyDirArg([values.dir ?? 'policies']);
  const file = resolve(values.file ?? join(dir, 'keys', `${name}.yaml`));
  if (existsSync(file)) {
    throw usageError(`${relative(process.cwd(), file)} already exists; choose another --name or --file`);
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
      ...(values.toolScope ? { toolScope: values.toolScope } : {}),
      ...(values.guardrailChain ? { guardrailChain: values.guardrailChain } : {}),
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
    failed('key not created: the policy would be invalid');
    return EXIT.invalid;
  }
  const shown = relative(process.cwd(), file);
  if (values.json) {
    json({ name, file: shown, key });
    return EXIT.ok;
  }
  process.stderr.write(`✓ wrote ${shown} (VirtualKey ${name}); commit it and open a pull request.\n`);
  process.stderr.write(
    '  The key below is shown once. Hand it to its owner over a secure channel; it is not stored.\n',
  );
  process.stdout.write(`${key}\n`);
  return EXIT.ok;
}
