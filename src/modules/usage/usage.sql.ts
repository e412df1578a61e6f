import { sql } from '../../database/sql.js';

/** Reads of credits and usage records (written only by the queue's statements). Each takes the owner, except the admin's. */

/** The credits user `$1` used in month `$2` (its first day): what the quota counts. */
export const MONTH_CREDITS = sql<{ used: string }>(
  'usage.monthCredits',
  `SELECT coalesce((SELECT credits FROM usage_monthly WHERE user_id = $1 AND month = $2::date), 0) AS used`,
);

/** User `$1`'s usage records in [`$2`, `$3`), by job type (index usage_records_user_month). */
export const BY_JOB_TYPE = sql<{ job_type: string; jobs: string; credits: string }>(
  'usage.byJobType',
  `SELECT job_type, count(*) AS jobs, sum(credits) AS credits
     FROM usage_records
    WHERE user_id = $1 AND created_at >= $2 AND created_at < $3
    GROUP BY job_type ORDER BY job_type`,
);

/** The billing export: user `$1`'s usage records in [`$2`, `$3`), one row per day (UTC) and job type. */
export const EXPORT_ROWS = sql<{ user_id: string; day: string; job_type: string; jobs: string; credits: string }>(
  'usage.export',
  `SELECT user_id, (created_at AT TIME ZONE 'UTC')::date::text AS day, job_type, count(*) AS jobs,
          sum(credits) AS credits
     FROM usage_records
    WHERE user_id = $1 AND created_at >= $2 AND created_at < $3
    GROUP BY user_id, day, job_type ORDER BY day, job_type`,
);

/** Every user with credits used in month `$1`, most first (admin). */
export const ALL_USERS = sql<{ id: string; email: string; tier: 'free' | 'pro' | 'enterprise'; used: string }>(
  'usage.allUsers',
  `SELECT u.id, u.email, u.tier, m.credits AS used
     FROM usage_monthly m JOIN users u ON u.id = m.user_id
    WHERE m.month = $1::date AND m.credits > 0
    ORDER BY m.credits DESC, u.email`,
);
