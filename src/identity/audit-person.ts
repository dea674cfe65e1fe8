// The person an audit record names, from the key that authenticated the call.
import type { AuditPerson } from '../audit/record.ts';
import type { ResolvedKey } from '../policy/snapshot.ts';

export function auditPerson(key: ResolvedKey | null | undefined): AuditPerson | undefined {
  const p = key?.principal;
  if (p === undefined) return undefined;
  return {
    kind: p.kind,
    idp: p.idp,
    subject: p.subject,
    ...(p.email !== undefined ? { email: p.email } : {}),
    groups: p.groups,
    ...(p.keyId !== undefined ? { keyId: p.keyId } : {}),
  };
}
