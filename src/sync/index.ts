// GitOps sync: sources, the reload manager and the webhook routes.
export { DirSource } from './dir-source.ts';
export { GitSource } from './git-source.ts';
export { lastGoodPath, readLastGood } from './last-good.ts';
export {
  createPolicyManager,
  createRevisionSource,
  type PolicyManager,
  type PolicyManagerOptions,
} from './manager.ts';
export type {
  ActiveInfo,
  HolderLike,
  RejectedInfo,
  RevisionSource,
  SyncSourceConfig,
  SyncStatus,
} from './types.ts';
export {
  githubSignatureValid,
  gitlabTokenValid,
  registerWebhookRoutes,
  type WebhookOptions,
} from './webhook.ts';
