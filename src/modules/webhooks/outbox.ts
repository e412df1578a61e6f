import type { EventType } from './event-catalog.js';

/** Dispatchers LISTEN here; a trigger on webhook_deliveries NOTIFYs it when deliveries are inserted. */
export const WEBHOOKS_CHANNEL = 'conveyor_webhooks';

/** ISO 8601 in UTC with milliseconds, as the API renders times. */
export function isoSql(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/**
 * The `data` of job.* events, built in SQL from a row alias with the columns of `jobs` (the same
 * fields as the API's Job, without `input`, which may be large and which the client sent).
 */
export function jobEventData(alias: string): string {
  const c = (column: string): string => `${alias}.${column}`;
  return `jsonb_build_object(
    'id', ${c('id')}, 'type', ${c('type')}, 'status', ${c('status')}, 'priority', ${c('priority')},
    'metadata', ${c('metadata')}, 'attempts', ${c('attempts')}, 'maxAttempts', ${c('max_attempts')},
    'batchId', ${c('batch_id')}, 'pipelineRunId', ${c('pipeline_run_id')}, 'error', ${c('error')},
    'cost', ${c('cost')}, 'runAt', ${isoSql(c('run_at'))}, 'createdAt', ${isoSql(c('created_at'))},
    'startedAt', ${isoSql(c('started_at'))}, 'finishedAt', ${isoSql(c('finished_at'))})`;
}

/** SQL: webhook `w` is live and subscribed to the type of event row `e` (same owner). */
function subscribed(w: string, e: string): string {
  return `${w}.user_id = ${e}.user_id AND ${w}.active AND ${w}.deleted_at IS NULL
          AND (${e}.type = ANY(${w}.events) OR '*' = ANY(${w}.events))`;
}

/** A literal event type for {@link outboxCtes}. */
export function eventType(type: EventType): string {
  return `'${type}'::text`;
}

/**
 * The transactional outbox, as two CTEs to append to a statement's WITH list, after the CTE
 * `source` that changed the rows. For every row of `source` (which must have `user_id` and the
 * columns `data` reads, as alias `s`) whose `type` expression is not NULL, and whose owner has a
 * live webhook subscribed to that type, it inserts the event and one delivery per such webhook —
 * in the same statement, hence the same transaction, as the state change. Users without a
 * subscriber get no event rows at all, so a queue without webhooks pays one index probe per row.
 * The insert trigger NOTIFYs the dispatchers at commit. `name` prefixes the CTEs, so one
 * statement can carry several outboxes (a step's job.completed and its run's pipeline.completed).
 */
export function outboxCtes(source: string, type: string, data: string, name = 'outbox'): string {
  return `${name}_events AS (
      INSERT INTO webhook_events (user_id, type, data)
      SELECT e.user_id, e.type, e.data
        FROM (SELECT s.user_id, ${type} AS type, ${data} AS data FROM ${source} s) e
       WHERE e.type IS NOT NULL AND EXISTS (SELECT 1 FROM webhooks w WHERE ${subscribed('w', 'e')})
      RETURNING id, user_id, type),
    ${name}_deliveries AS (
      INSERT INTO webhook_deliveries (webhook_id, event_id, user_id, event_type)
      SELECT w.id, oe.id, oe.user_id, oe.type FROM ${name}_events oe JOIN webhooks w ON ${subscribed('w', 'oe')}
      RETURNING id)`;
}
