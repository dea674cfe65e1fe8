// Delivers alerts to webhooks off the request path: a bounded queue, retries with back-off, a cap on
// how many alerts a minute may send (an alert storm stays bounded), and nothing that can delay a call.
import { Agent, request } from 'undici';
import { jsonBody, SIGNATURE_HEADER, signature, slackBody } from './format.ts';
import type { AlertChannel, BudgetAlert } from './types.ts';

export interface DispatcherOptions {
  channels: AlertChannel[];
  /** Alerts accepted per rolling minute; later ones are dropped and counted (default 60). */
  maxPerMinute?: number;
  /** Deliveries waiting at most (default 1,000); more are dropped and counted. */
  maxQueued?: number;
  /** Attempts per channel and alert (default 6: the first and five retries). */
  attempts?: number;
  /** First retry delay; doubles each time (default 1 s). */
  backoffMs?: number;
  timeoutMs?: number;
  /** Outcome of each delivery, for logs and metrics; never carries the channel's URL. */
  onResult?: (r: DeliveryResult) => void;
}

export interface DeliveryResult {
  alert: string;
  channel: string;
  outcome: 'delivered' | 'failed' | 'dropped';
  attempts: number;
  /** Why it failed or was dropped: an HTTP status or an error kind, never a URL. */
  reason?: string;
}

interface Delivery {
  alert: BudgetAlert;
  channel: AlertChannel;
  attempt: number;
}

export class AlertDispatcher {
  readonly #channels: AlertChannel[];
  readonly #maxPerMinute: number;
  readonly #maxQueued: number;
  readonly #attempts: number;
  readonly #backoffMs: number;
  readonly #timeoutMs: number;
  readonly #onResult: (r: DeliveryResult) => void;
  readonly #agent = new Agent({ connections: 4 });
  readonly #accepted: number[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #inFlight = new Set<Promise<void>>();
  #waiting = 0;
  #closed = false;

  constructor(options: DispatcherOptions) {
    this.#channels = options.channels;
    this.#maxPerMinute = options.maxPerMinute ?? 60;
    this.#maxQueued = options.maxQueued ?? 1_000;
    this.#attempts = Math.max(1, options.attempts ?? 6);
    this.#backoffMs = options.backoffMs ?? 1_000;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#onResult = options.onResult ?? (() => {});
  }

  get channels(): readonly AlertChannel[] {
    return this.#channels;
  }

  /** Queues the alert for every channel; returns at once. */
  send(alert: BudgetAlert): void {
    const now = Date.now();
    while (this.#accepted.length > 0 && this.#accepted[0] <= now - 60_000) this.#accepted.shift();
    for (const channel of this.#channels) {
      if (this.#closed) {
        this.#onResult({
          alert: alert.id,
          channel: channel.name,
          outcome: 'dropped',
          attempts: 0,
          reason: 'closed',
        });
        continue;
      }
      if (this.#accepted.length >= this.#maxPerMinute) {
        this.#onResult({
          alert: alert.id,
          channel: channel.name,
          outcome: 'dropped',
          attempts: 0,
          reason: 'rate',
        });
        continue;
      }
      if (this.#waiting >= this.#maxQueued) {
        this.#onResult({
          alert: alert.id,
          channel: channel.name,
          outcome: 'dropped',
          attempts: 0,
          reason: 'queue_full',
        });
        continue;
      }
      this.#accepted.push(now);
      this.#waiting++;
      this.#attempt({ alert, channel, attempt: 1 });
    }
  }

  /** Stops retrying; waits up to `graceMs` for deliveries in flight. */
  async close(graceMs = 2_000): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const pending = Promise.allSettled([...this.#inFlight]);
    await Promise.race([pending, new Promise((r) => setTimeout(r, graceMs).unref())]);
    await this.#agent.close().catch(() => {});
  }

  #attempt(d: Delivery): void {
    const p = this.#post(d).finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }

  async #post(d: Delivery): Promise<void> {
    const { alert, channel } = d;
    const body = channel.format === 'slack' ? slackBody(alert) : jsonBody(alert);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'portcullis-alerts',
    };
    if (channel.signingSecret !== undefined) {
      headers[SIGNATURE_HEADER] = signature(channel.signingSecret, body, Math.floor(Date.now() / 1000));
    }
    let reason: string;
    try {
      const res = await request(channel.url, {
        method: 'POST',
        headers,
        body,
        dispatcher: this.#agent,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) {
        this.#waiting--;
        this.#onResult({ alert: alert.id, channel: channel.name, outcome: 'delivered', attempts: d.attempt });
        return;
      }
      reason = `http_${res.statusCode}`;
      // A receiver that rejects the request itself will reject it again.
      if (res.statusCode >= 400 && res.statusCode < 500 && res.statusCode !== 408 && res.statusCode !== 429) {
        this.#fail(d, reason);
        return;
      }
    } catch (err) {
      reason = (err as { code?: string }).code ?? 'network_error';
    }
    if (this.#closed || d.attempt >= this.#attempts) {
      this.#fail(d, reason);
      return;
    }
    const delay = this.#backoffMs * 2 ** (d.attempt - 1);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#attempt({ ...d, attempt: d.attempt + 1 });
    }, delay);
    timer.unref();
    this.#timers.add(timer);
  }

  #fail(d: Delivery, reason: string): void {
    this.#waiting--;
    this.#onResult({
      alert: d.alert.id,
      channel: d.channel.name,
      outcome: 'failed',
      attempts: d.attempt,
      reason,
    });
  }
}
