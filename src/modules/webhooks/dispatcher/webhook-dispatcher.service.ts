import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { SecretBox } from '../../../common/crypto/secret-box.js';
import { HttpTimeoutError } from '../../../common/net/http-client.js';
import { guardedFetch, SsrfBlockedError } from '../../../common/net/ssrf-guard.js';
import { MicroBatcher } from '../../../common/batching/micro-batcher.js';
import { Waker } from '../../../common/loop/waker.js';
import { APP_VERSION, AppConfig } from '../../../config/config.js';
import { PgListener } from '../../../database/pg-listener.js';
import { toEventId } from '../event-catalog.js';
import { WEBHOOKS_CHANNEL } from '../outbox.js';
import { signatureHeader } from '../signing.js';
import { WebhookUrlGuard } from '../webhook-url.guard.js';
import {
  DispatcherRepository,
  type AttemptRecord,
  type ClaimedDelivery,
  type Outcome,
} from './dispatcher.repository.js';
import { nextStep, parseRetryAfter } from './retry-policy.js';

/** Bytes of a response body kept with the attempt. */
const RESPONSE_BODY_BYTES = 2048;
/** A claimed delivery stays locked this long past the request timeout; then another dispatcher may take it. */
const LOCK_MARGIN_MS = 5000;

/**
 * Delivers webhook events (ROLE=worker or all). Deliveries are rows written by the outbox in the
 * same transaction as their cause; this loop:
 * - claims due deliveries with SKIP LOCKED (woken by NOTIFY conveyor_webhooks, and polling);
 * - runs up to WEBHOOK_CONCURRENCY at once, at most WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT per
 *   endpoint, so a slow or dead endpoint cannot starve the others;
 * - POSTs the signed envelope through the SSRF guard (vetted address, no redirects, timeout);
 * - records every attempt and schedules the next one, or ends the delivery.
 * A dispatcher killed mid-request leaves its deliveries locked until the lock lapses, then they
 * are sent again: delivery is at-least-once, and `webhook-id` lets receivers drop duplicates.
 */
@Injectable()
export class WebhookDispatcherService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('WebhookDispatcher');
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly perEndpoint = new Map<string, number>();
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly waker = new Waker();
  /**
   * Attempts are stored in batches: one statement (one commit) for all attempts finishing while
   * the previous write is in flight. Resolves with whether the attempt disabled its endpoint.
   */
  private readonly recorder: MicroBatcher<AttemptRecord, boolean>;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly attemptListeners: Array<(attempt: AttemptSeen) => void> = [];

  constructor(
    private readonly config: AppConfig,
    private readonly repo: DispatcherRepository,
    private readonly urls: WebhookUrlGuard,
    private readonly secrets: SecretBox,
    private readonly listener: PgListener,
  ) {
    this.recorder = new MicroBatcher(async (records) => {
      const disabled = await repo.record(records, config.webhooks.disableAfterMs);
      return records.map((r) => disabled.has(r.webhookId));
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.runsWorker) return;
    this.running = true;
    await this.listener.subscribe(WEBHOOKS_CHANNEL, () => this.wake());
    this.loop = this.run();
    this.logger.log({ concurrency: this.config.webhooks.concurrency }, 'webhook dispatcher started');
  }

  /** Stops claiming and lets in-flight requests finish; each is bounded by WEBHOOK_TIMEOUT_MS. */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.wake();
    await this.loop;
    await Promise.allSettled(this.inFlight.values());
    this.logger.log('webhook dispatcher stopped');
  }

  private async run(): Promise<void> {
    const { concurrency, maxInFlightPerEndpoint, pollIntervalMs, timeoutMs } = this.config.webhooks;
    while (this.running) {
      this.waker.startRound();
      const free = concurrency - this.inFlight.size;
      let claimed: ClaimedDelivery[] = [];
      if (free > 0) {
        const room: Record<string, number> = {};
        const full: string[] = [];
        for (const [webhookId, n] of this.perEndpoint) {
          if (n >= maxInFlightPerEndpoint) full.push(webhookId);
          else room[webhookId] = maxInFlightPerEndpoint - n;
        }
        try {
          claimed = await this.repo.claim({
            limit: free,
            scan: Math.max(100, free * 4),
            full,
            room,
            defaultRoom: maxInFlightPerEndpoint,
            lockMs: timeoutMs + LOCK_MARGIN_MS,
          });
        } catch (error) {
          this.logger.error({ err: error }, 'claim failed; retrying after the poll interval');
        }
        for (const delivery of claimed) this.start(delivery);
      }
      if (claimed.length === free && free > 0) continue;
      await this.waker.sleep(pollIntervalMs);
    }
  }

  private wake(): void {
    this.waker.wake();
  }

  /** Wakes the loop when a retry falls due before the next poll would find it. */
  private wakeIn(ms: number): void {
    if (!this.running || ms >= this.config.webhooks.pollIntervalMs) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.wake();
    }, ms);
    this.timers.add(timer);
  }

  private start(delivery: ClaimedDelivery): void {
    this.perEndpoint.set(delivery.webhook_id, (this.perEndpoint.get(delivery.webhook_id) ?? 0) + 1);
    const done = this.deliver(delivery)
      .catch((error: unknown) =>
        // The lock lapses and another pass retries it: nothing is lost.
        this.logger.error({ err: error, deliveryId: delivery.id }, 'delivery bookkeeping failed'),
      )
      .finally(() => {
        this.inFlight.delete(delivery.id);
        const left = (this.perEndpoint.get(delivery.webhook_id) ?? 1) - 1;
        if (left > 0) this.perEndpoint.set(delivery.webhook_id, left);
        else this.perEndpoint.delete(delivery.webhook_id);
        this.wake();
      });
    this.inFlight.set(delivery.id, done);
  }

  /** Calls `listener` after every delivery attempt of this process (the metrics). */
  onAttempt(listener: (attempt: AttemptSeen) => void): void {
    this.attemptListeners.push(listener);
  }

  private async deliver(d: ClaimedDelivery): Promise<void> {
    if (!d.live) {
      await this.repo.failUndeliverable(d.id, 'The endpoint is disabled or deleted');
      return;
    }
    const { timeoutMs, retryScheduleMs, retryAfterMaxMs } = this.config.webhooks;
    const msgId = toEventId(d.event_id);
    const body = JSON.stringify({ id: msgId, type: d.event_type, createdAt: d.event_created_at, data: d.event_data });
    const attemptedAt = new Date();
    const started = performance.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    let responseBody: string | null = null;
    let retryAfterMs: number | undefined;
    try {
      const secrets = [d.secret_encrypted, d.previous_secret_encrypted]
        .filter((s): s is string => s !== null)
        .map((s) => this.secrets.decrypt(s));
      const timestamp = Math.floor(attemptedAt.getTime() / 1000);
      const response = await guardedFetch(
        d.url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': `Conveyor-Webhooks/${APP_VERSION}`,
            'webhook-id': msgId,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signatureHeader(secrets, msgId, timestamp, body),
          },
          body,
          timeoutMs,
          maxResponseBytes: RESPONSE_BODY_BYTES,
        },
        this.urls.guard,
      );
      statusCode = response.status;
      // PostgreSQL text cannot hold NUL.
      responseBody = response.body.toString('utf8').replace(/\0/g, '');
      retryAfterMs = parseRetryAfter(response.headers['retry-after']);
      if (statusCode < 200 || statusCode >= 300) {
        error = statusCode >= 300 && statusCode < 400 ? `Redirect (${statusCode}) not followed` : `HTTP ${statusCode}`;
      }
    } catch (caught) {
      error =
        caught instanceof SsrfBlockedError || caught instanceof HttpTimeoutError
          ? caught.message
          : `Request failed: ${(caught as Error).message}`;
    }
    const durationMs = Math.round(performance.now() - started);
    const outcome: Outcome =
      statusCode !== null && statusCode >= 200 && statusCode < 300 ? 'ok' : statusCode === 410 ? 'gone' : 'failed';
    const next = nextStep(
      { scheduleMs: retryScheduleMs, retryAfterMaxMs },
      { number: d.attempts + 1, retryBase: d.retry_base, outcome, statusCode, retryAfterMs },
    );
    const endpointDisabled = await this.recorder.add({
      deliveryId: d.id,
      webhookId: d.webhook_id,
      attemptedAt,
      statusCode,
      durationMs,
      error,
      responseBody,
      outcome,
      next,
    });
    if (endpointDisabled) this.logger.warn({ webhookId: d.webhook_id, outcome }, 'webhook endpoint disabled');
    const lagMs = attemptedAt.getTime() - Date.parse(d.event_created_at);
    for (const listener of this.attemptListeners) listener({ outcome, final: next.status !== 'pending', lagMs });
    if (next.status === 'pending') this.wakeIn(next.inMs);
  }
}

/** One delivery attempt, as {@link WebhookDispatcherService.onAttempt} listeners see it. */
export interface AttemptSeen {
  outcome: Outcome;
  /** No retry follows: the delivery ended (succeeded, or failed for good). */
  final: boolean;
  /** From the event's creation to this attempt, ms. */
  lagMs: number;
}
