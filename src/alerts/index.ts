// Budget alerts: thresholds crossed by settled calls, claimed once across replicas, sent to webhooks.
export { BudgetAlerts, type SettledCall } from './budget-alerts.ts';
export { type ChannelProblem, resolveChannels } from './channels.ts';
export { AlertDispatcher, type DeliveryResult, type DispatcherOptions } from './dispatcher.ts';
export { alertSentence, SIGNATURE_HEADER, signature } from './format.ts';
export type { AlertChannel, BudgetAlert } from './types.ts';
