// A secret named by reference in the policy (environment variable or file), read when needed.
import { readFileSync } from 'node:fs';

export interface SecretRef {
  fromEnv?: string;
  fromFile?: string;
}

/** The secret's value; throws a message naming where it was looked for, never the value. */
export function readSecretRef(ref: SecretRef, what: string): string {
  if (ref.fromEnv !== undefined) {
    const v = process.env[ref.fromEnv];
    if (v === undefined || v.trim() === '')
      throw new Error(`${what}: environment variable ${ref.fromEnv} is not set`);
    return v.trim();
  }
  if (ref.fromFile !== undefined) {
    try {
      const v = readFileSync(ref.fromFile, 'utf8').trim();
      if (v !== '') return v;
    } catch {
      // Reported below.
    }
    throw new Error(`${what}: file ${ref.fromFile} cannot be read or is empty`);
  }
  throw new Error(`${what}: no reference given`);
}
