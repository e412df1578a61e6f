import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { isoSql } from '../outbox.js';

export interface ClaimedDelivery {
  id: string;
  webhook_id: string;
  event_id: string;
  /** Attempts made before this one. */
  attempts: number;
  /** `attempts` when the delivery was last re-armed; the retry schedule counts from here. */
  retry_base: number;
  event_type: string;
  event_data: unknown;
  event_created_at: string;
  url: string;
  /** Active and not deleted. */
  live: boolean;
  secret_encrypted: string;
  /** The rotated-out secret while it still signs (24 h), else null. */
  previous_secret_encrypted: string | null;
}

/** What an attempt came to: 2xx, 410 Gone (disables the endpoint), or any other failure. */
export type Outcome = 'ok' | 'gone' | 'failed';

export interface AttemptRecord {
  deliveryId: string;
  webhookId: string;
  attemptedAt: Date;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
  outcome: Outcome;
  /** The delivery's new status, and when pending, the wait before the next attempt. */
  next: { status: 'succeeded' | 'failed' } | { status: 'pending'; inMs: number };
  disableAfterMs: number;
}

/** The dispatcher's SQL: claim due deliveries, record attempts, disable failing endpoints. */
@Injectable()
export class DispatcherRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * Locks up to `limit` due deliveries for `lockMs`, oldest due first, with SKIP LOCKED so many
   * dispatchers share the table. Per endpoint it takes at most `room[webhookId]` (default
   * `defaultRoom`), and none for the endpoints in `full`: one slow or dead endpoint can hold only
   * its own share of the dispatcher's slots. It scans `scan` candidates to find them.
   */
  claim(options: {
    limit: number;
    scan: number;
    full: string[];
    room: Record<string, number>;
    defaultRoom: number;
    lockMs: number;
  }): Promise<ClaimedDelivery[]> {
    return this.db.query(
      `WITH candidates AS (
         SELECT id, webhook_id, next_attempt_at FROM webhook_deliveries
          WHERE status = 'pending' AND next_attempt_at <= now()
            AND (locked_until IS NULL OR locked_until < now())
            AND webhook_id <> ALL($1::uuid[])
          ORDER BY next_attempt_at
          LIMIT $2
          FOR UPDATE SKIP LOCKED),
       picked AS (
         SELECT id FROM (
           SELECT id, next_attempt_at,
                  row_number() OVER (PARTITION BY webhook_id ORDER BY next_attempt_at) AS rank,
                  coalesce(($3::jsonb ->> webhook_id::text)::int, $4) AS room
             FROM candidates) c
          WHERE rank <= room
          ORDER BY next_attempt_at
          LIMIT $5),
       locked AS (
         UPDATE webhook_deliveries
            SET locked_until = now() + make_interval(secs => $6::double precision / 1000)
          WHERE id = ANY(ARRAY(SELECT id FROM picked))
         RETURNING id, webhook_id, event_id, attempts, retry_base)
       SELECT l.id, l.webhook_id, l.event_id, l.attempts, l.retry_base,
              e.type AS event_type, e.data AS event_data, ${isoSql('e.created_at')} AS event_created_at,
              w.url, (w.active AND w.deleted_at IS NULL) AS live, w.secret_encrypted,
              CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret_encrypted END
                AS previous_secret_encrypted
         FROM locked l
         JOIN webhook_events e ON e.id = l.event_id
         JOIN webhooks w ON w.id = l.webhook_id`,
      [options.full, options.scan, JSON.stringify(options.room), options.defaultRoom, options.limit, options.lockMs],
    );
  }

  /** A delivery whose endpoint was disabled or deleted ends `failed` without an attempt. */
  async failUndeliverable(id: string, reason: string): Promise<void> {
    await this.db.query(
      `UPDATE webhook_deliveries SET status = 'failed', locked_until = NULL, last_error = $2, updated_at = now()
        WHERE id = $1 AND status = 'pending'`,
      [id, reason],
    );
  }

  /**
   * One statement: the attempt row, the delivery's new state, and the endpoint's health. The
   * endpoint row is written only when its state changes (first failure, recovery, disabling),
   * so the happy path never contends on it. Returns whether the endpoint is still active.
   */
  async record(r: AttemptRecord): Promise<{ endpointDisabled: boolean }> {
    const inMs = r.next.status === 'pending' ? r.next.inMs : null;
    const rows: Array<{ disabled: boolean | null }> = await this.db.query(
      `WITH attempt AS (
         INSERT INTO webhook_delivery_attempts (delivery_id, attempted_at, status_code, duration_ms, error, response_body)
         VALUES ($1, $2, $3, $4, $5, $6)),
       delivery AS (
         UPDATE webhook_deliveries
            SET attempts = attempts + 1, status = $7,
                next_attempt_at = CASE WHEN $7 = 'pending'
                                       THEN now() + make_interval(secs => $8::double precision / 1000)
                                       ELSE next_attempt_at END,
                locked_until = NULL, last_status_code = $3, last_error = $5,
                delivered_at = CASE WHEN $7 = 'succeeded' THEN now() END, updated_at = now()
          WHERE id = $1 AND status = 'pending'),
       endpoint AS (
         UPDATE webhooks
            SET failing_since = CASE WHEN $9 = 'ok' THEN NULL ELSE coalesce(failing_since, now()) END,
                active = CASE WHEN $9 = 'gone' THEN false
                              WHEN $9 = 'failed' AND failing_since < now() - make_interval(secs => $10::double precision / 1000)
                              THEN false
                              ELSE active END,
                disabled_reason = CASE
                  WHEN $9 = 'gone' THEN 'The endpoint answered 410 Gone'
                  WHEN $9 = 'failed' AND failing_since < now() - make_interval(secs => $10::double precision / 1000)
                  THEN 'Failing continuously since ' || ${isoSql('failing_since')}
                  ELSE disabled_reason END,
                updated_at = now()
          WHERE id = $11 AND deleted_at IS NULL AND (
                ($9 = 'ok' AND failing_since IS NOT NULL)
             OR ($9 = 'gone' AND active)
             OR ($9 = 'failed' AND (failing_since IS NULL
                   OR (active AND failing_since < now() - make_interval(secs => $10::double precision / 1000)))))
         RETURNING active)
       SELECT NOT active AS disabled FROM endpoint`,
      [
        r.deliveryId,
        r.attemptedAt,
        r.statusCode,
        r.durationMs,
        r.error,
        r.responseBody,
        r.next.status,
        inMs,
        r.outcome,
        r.disableAfterMs,
        r.webhookId,
      ],
    );
    return { endpointDisabled: rows[0]?.disabled === true };
  }
}
