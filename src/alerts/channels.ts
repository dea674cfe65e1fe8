// Reads the alert channels' secrets (webhook URLs, signing keys) from where policy points.
import { readFileSync } from 'node:fs';
import type { AlertChannelRef, SecretRef } from '../policy/snapshot.ts';
import type { AlertChannel } from './types.ts';

export interface ChannelProblem {
  channel: string;
  /** Names the reference (variable or file), never the value. */
  message: string;
}

function read(ref: SecretRef, env: NodeJS.ProcessEnv): string | { missing: string } {
  if (ref.fromEnv !== undefined) {
    const v = env[ref.fromEnv];
    return v === undefined || v === '' ? { missing: `environment variable ${ref.fromEnv} is not set` } : v;
  }
  if (ref.fromFile !== undefined) {
    try {
      const v = readFileSync(ref.fromFile, 'utf8').trim();
      return v === '' ? { missing: `file ${ref.fromFile} is empty` } : v;
    } catch (err) {
      return {
        missing: `file ${ref.fromFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      };
    }
  }
  return { missing: 'no fromEnv or fromFile given' };
}

/** The channels whose secrets could be read, and a problem for each that could not. */
export function resolveChannels(
  refs: readonly AlertChannelRef[],
  env: NodeJS.ProcessEnv = process.env,
): { channels: AlertChannel[]; problems: ChannelProblem[] } {
  const channels: AlertChannel[] = [];
  const problems: ChannelProblem[] = [];
  for (const ref of refs) {
    const url = read(ref.url, env);
    if (typeof url !== 'string') {
      problems.push({ channel: ref.name, message: `url: ${url.missing}` });
      continue;
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      problems.push({ channel: ref.name, message: 'url: not a URL' });
      continue;
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      problems.push({ channel: ref.name, message: `url: unsupported scheme ${parsed.protocol}` });
      continue;
    }
    const channel: AlertChannel = { name: ref.name, format: ref.format, url };
    if (ref.signingSecret !== undefined) {
      const secret = read(ref.signingSecret, env);
      if (typeof secret !== 'string') {
        problems.push({ channel: ref.name, message: `signingSecret: ${secret.missing}` });
        continue;
      }
      channel.signingSecret = secret;
    }
    channels.push(channel);
  }
  return { channels, problems };
}
