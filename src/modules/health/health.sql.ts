import { sql } from '../../database/sql.js';

/** The readiness probe's round trip to PostgreSQL. */
export const PING = sql('health.ping', 'SELECT 1');
