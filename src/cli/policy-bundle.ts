// `portcullis policy sign`, and the signing options it shares with `policy build`: OPA's bundle
// signing format (a JWS over every file's SHA-256 in .signatures.json), see docs/deploy.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { SigningOptions } from '../sync/bundle-format.ts';
import { CliError, EXIT, usageError } from './errors.ts';
import { json, ok } from './output.ts';
import type { ParsedOptions } from './program.ts';

/** The signing key and settings from --signing-key (or PORTCULLIS_BUNDLE_SIGNING_KEY_FILE); none: unsigned. */
export function signingFrom(opts: ParsedOptions): SigningOptions | undefined {
  const file = (opts.signingKey as string | undefined) ?? process.env.PORTCULLIS_BUNDLE_SIGNING_KEY_FILE;
  if (!file) return undefined;
  let privateKey: string;
  try {
    privateKey = readFileSync(resolve(file), 'utf8');
  } catch (e) {
    throw usageError(
      `cannot read the signing key ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return {
    privateKey,
    algorithm: String(opts.signingAlg ?? 'RS256'),
    keyId: String(opts.keyId ?? 'default'),
    scope: opts.scope as string | undefined,
  };
}

export async function sign(args: string[], opts: ParsedOptions): Promise<number> {
  const { BundleError } = await import('../sync/bundle-format.ts');
  const { signBundleArchive } = await import('../sync/bundle-build.ts');
  const input = resolve(args[0]);
  const signing = signingFrom(opts);
  if (!signing)
    throw usageError('say which key signs: --signing-key FILE', 'e.g. --signing-key bundle-signing.pem');
  let archive: Buffer;
  try {
    archive = readFileSync(input);
  } catch (e) {
    throw usageError(`cannot read ${input}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const output = resolve(String(opts.output ?? input));
  try {
    writeFileSync(output, await signBundleArchive(archive, signing));
  } catch (e) {
    if (e instanceof BundleError) throw new CliError(e.message, { exitCode: EXIT.invalid });
    throw e;
  }
  if (opts.json) json({ bundle: output, keyId: signing.keyId, algorithm: signing.algorithm });
  else ok(`signed ${output} (key id ${signing.keyId}, ${signing.algorithm})`);
  return EXIT.ok;
}
