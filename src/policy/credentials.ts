// Plaintext credentials must never be written into a policy repository: the loader rejects any
// string that looks like one. Interim patterns until the guardrails secret rules are wired in.
const PATTERNS: [string, RegExp][] = [
  ['openai_api_key', /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/],
  ['anthropic_api_key', /\bsk-ant-[A-Za-z0-9_-]{20,}/],
  ['aws_access_key_id', /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/],
  ['github_token', /\bgh[pousr]_[A-Za-z0-9]{36,}\b/],
  ['google_api_key', /\bAIza[0-9A-Za-z_-]{35}\b/],
  ['private_key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['portcullis_virtual_key', /\bpcl_[A-Za-z0-9_-]{40,}\b/],
];

export function defaultCredentialDetector(text: string): string | undefined {
  for (const [name, re] of PATTERNS) if (re.test(text)) return name;
  return undefined;
}
