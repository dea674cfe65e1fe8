// Plaintext credentials must never be written into a policy repository: the loader rejects any
// string that looks like one, with the same secret rules the guardrails run on model traffic.
import { createFingerprinter, SecretsDetector, selectRules } from '../guardrails/index.ts';

let detector: SecretsDetector | undefined;

/** The id of the first secret rule `text` matches (e.g. `aws_access_key_id`), or undefined. */
export function defaultCredentialDetector(text: string): string | undefined {
  // Built on first use: compiling every rule costs a moment the CLI's other commands need not pay.
  detector ??= new SecretsDetector(selectRules(), { fingerprint: createFingerprinter() });
  return detector.scan(text)[0]?.rule;
}
