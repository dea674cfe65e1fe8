// The adapter for each upstream wire format, by API name.
import type { ProviderApi } from '../policy/snapshot.ts';
import { anthropicAdapter } from './anthropic.ts';
import { geminiAdapter } from './gemini.ts';
import { openaiAdapter } from './openai.ts';
import type { ProviderAdapter } from './types.ts';

export const adapters: Readonly<Record<ProviderApi, ProviderAdapter>> = {
  openai: openaiAdapter,
  anthropic: anthropicAdapter,
  gemini: geminiAdapter,
};

export type { ProviderAdapter, TokenUsage } from './types.ts';
