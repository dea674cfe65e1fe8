// Generated from schemas/ by scripts/generate-types.ts — do not edit; run `npm run types:generate`.
export type * from './gateway.ts';
export type * from './guardrailchain.ts';
export type * from './identityprovider.ts';
export type * from './mcpserver.ts';
export type * from './provider.ts';
export type * from './route.ts';
export type * from './team.ts';
export type * from './toolscope.ts';
export type * from './virtualkey.ts';
