// The policy's providers, resolved from a directory without compiling its Rego.
import { checkPolicy } from '../../policy/build-snapshot.ts';
import { PolicyInvalidError } from '../../policy/problems.ts';
import { resolvePolicy } from '../../policy/resolve.ts';
import type { ResolvedProvider } from '../../policy/snapshot.ts';

export function buildSnapshotNoCompile(dir: string): ResolvedProvider[] {
  const { documents, problems } = checkPolicy(dir);
  if (problems.length > 0) throw new PolicyInvalidError(problems);
  return [...resolvePolicy(documents).providers.values()];
}
