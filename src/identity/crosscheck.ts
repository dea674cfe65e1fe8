// Cross-document checks for identity: IdentityProvider group mappings name Teams that declare a
// `members` template, lifetimes stay within bounds, issuers are unique, and a Team's members
// template refers to chains, scopes and models that exist.

import { isValidTimeZone } from '../limits/period.ts';
import type { LoadedDocument } from '../policy/load.ts';
import { positionOf } from '../policy/load.ts';
import { globToRegExp } from '../policy/models.ts';
import type { PolicyProblem } from '../policy/problems.ts';
import { offsetOf } from '../policy/validate.ts';
import { MAX_LIFETIME_MS, parseLifetime } from './config.ts';

type Spec = Record<string, unknown>;
const nameOf = (d: LoadedDocument) => (d.value.metadata as { name: string }).name;
const specOf = (d: LoadedDocument) => (d.value.spec ?? {}) as Spec;

export function crossCheckIdentity(documents: LoadedDocument[]): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const at = (doc: LoadedDocument, path: (string | number)[], message: string) =>
    problems.push({
      file: doc.file,
      ...positionOf(doc, offsetOf(doc, path)),
      field: path.join('.').replace(/\.(\d+)/g, '[$1]') || undefined,
      message,
    });
  const ofKind = (kind: string) => documents.filter((d) => d.value.kind === kind);
  const names = (kind: string) => new Set(ofKind(kind).map(nameOf));
  const teams = new Map(ofKind('Team').map((t) => [nameOf(t), t]));
  const chains = names('GuardrailChain');
  const scopes = names('ToolScope');
  const providerModels = new Map(
    ofKind('Provider').map((p) => [nameOf(p), ((specOf(p).models ?? []) as Spec[]).map((m) => String(m.id))]),
  );

  const issuers = new Map<string, LoadedDocument>();
  for (const idp of ofKind('IdentityProvider')) {
    const spec = specOf(idp);
    const issuer = String(spec.issuer).replace(/\/+$/, '');
    const first = issuers.get(issuer);
    if (first) at(idp, ['spec', 'issuer'], `same issuer as IdentityProvider '${nameOf(first)}'`);
    else issuers.set(issuer, idp);
    ((spec.teams ?? []) as Spec[]).forEach((m, i) => {
      const team = teams.get(String(m.team));
      if (team === undefined) {
        at(idp, ['spec', 'teams', i, 'team'], `refers to Team '${m.team}', which is not defined`);
      } else if (specOf(team).members === undefined) {
        at(
          idp,
          ['spec', 'teams', i, 'team'],
          `Team '${m.team}' declares no 'members' template, so its members would get nothing; add spec.members to it`,
        );
      }
    });
    // An ID token's audience is the client id: accepting tokens for that audience would accept ID
    // tokens as access tokens.
    if (
      spec.acceptAccessTokens === true &&
      (spec.audience === undefined || spec.audience === spec.clientId)
    ) {
      at(
        idp,
        ['spec', spec.audience === undefined ? 'acceptAccessTokens' : 'audience'],
        'acceptAccessTokens needs an audience of its own (the API identifier your IdP puts in access tokens), not the client id',
      );
    }
    const lifetime = (spec.personalKeys as Spec | undefined)?.lifetime;
    if (typeof lifetime === 'string' && parseLifetime(lifetime) > MAX_LIFETIME_MS) {
      at(
        idp,
        ['spec', 'personalKeys', 'lifetime'],
        `at most 30d: a personal key outliving that outlives offboarding`,
      );
    }
  }

  for (const [name, team] of teams) {
    const members = specOf(team).members as Spec | undefined;
    if (members === undefined) continue;
    const base = ['spec', 'members'];
    if (typeof members.guardrailChain === 'string' && !chains.has(members.guardrailChain)) {
      at(
        team,
        [...base, 'guardrailChain'],
        `refers to GuardrailChain '${members.guardrailChain}', which is not defined`,
      );
    }
    if (typeof members.toolScope === 'string' && !scopes.has(members.toolScope)) {
      at(team, [...base, 'toolScope'], `refers to ToolScope '${members.toolScope}', which is not defined`);
    }
    ((members.budgets ?? []) as Spec[]).forEach((b, i) => {
      if (typeof b.timezone === 'string' && !isValidTimeZone(b.timezone)) {
        at(team, [...base, 'budgets', i, 'timezone'], `'${b.timezone}' is not an IANA time zone`);
      }
    });
    const providers = (members.providers as string[] | undefined) ?? [...providerModels.keys()];
    (members.providers as string[] | undefined)?.forEach((p, i) => {
      if (!providerModels.has(p))
        at(team, [...base, 'providers', i], `refers to Provider '${p}', which is not defined`);
    });
    const reachable = providers.flatMap((p) => providerModels.get(p) ?? []);
    ((members.models ?? []) as string[]).forEach((glob, i) => {
      const re = globToRegExp(glob);
      if (!reachable.some((m) => re.test(m) || glob.startsWith(`${m}-`))) {
        at(
          team,
          [...base, 'models', i],
          `'${glob}' matches no model of the providers team '${name}' members may use`,
        );
      }
    });
  }
  return problems;
}
