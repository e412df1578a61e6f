import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import type { Db } from '../src/database/db.js';
import type { Sql } from '../src/database/sql.js';
import { JobsRepository } from '../src/modules/jobs/jobs.repository.js';
import { PipelinesRepository } from '../src/modules/pipelines/pipelines.repository.js';
import type { JobChanges } from '../src/modules/queue/job-changes.js';
import { JobLifecycle } from '../src/modules/queue/job-lifecycle.service.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

/**
 * Index proof (SPEC "Data model"): on a populated table, the application's own queries — run
 * through the real repositories, with EXPLAIN put in front of the SQL they send — use the index
 * named for them. The planner is left at its defaults: no `enable_seqscan = off`.
 */

const USERS = 5;
const JOBS = 120_000;

type Plan = Record<string, unknown> & { Plans?: Plan[] };

/** Every node of a plan tree. */
function nodes(plan: Plan): Plan[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

function indexesUsed(plan: Plan): string[] {
  return nodes(plan)
    .map((n) => n['Index Name'])
    .filter((n): n is string => typeof n === 'string');
}

function seqScans(plan: Plan): string[] {
  return nodes(plan)
    .filter((n) => n['Node Type'] === 'Seq Scan')
    .map((n) => String(n['Relation Name']));
}

/**
 * A stand-in for the Db provider that EXPLAINs instead of executing. Unprepared statements are
 * explained with their parameters (a custom plan, as PostgreSQL plans an unnamed statement).
 * Prepared ones (`prepare: true`, the hot queries) may be switched by PostgreSQL to a generic plan
 * after five runs, so they are explained with `plan_cache_mode = force_generic_plan`: the plan the
 * server settles on in production.
 */
class ExplainingDb {
  readonly plans: Plan[] = [];

  constructor(private readonly client: pg.Client) {}

  get reader(): this {
    return this;
  }

  async query(statement: Sql<object>, params: readonly unknown[] = []): Promise<unknown[]> {
    if (!statement.prepare) {
      const { rows } = await this.client.query<{ 'QUERY PLAN': Plan[] }>(`EXPLAIN (FORMAT JSON) ${statement.text}`, [
        ...params,
      ]);
      this.plans.push(rows[0]['QUERY PLAN'][0].Plan as Plan);
      return [];
    }
    const name = statement.name.replace('.', '_');
    const literals = params.map((v) => this.literal(v)).join(', ');
    await this.client.query(`SET plan_cache_mode = force_generic_plan`);
    try {
      await this.client.query(`PREPARE ${name} AS ${statement.text}`);
      const { rows } = await this.client.query<{ 'QUERY PLAN': Plan[] }>(
        `EXPLAIN (FORMAT JSON) EXECUTE ${name}(${literals})`,
      );
      this.plans.push(rows[0]['QUERY PLAN'][0].Plan as Plan);
      return [];
    } finally {
      await this.client.query(`DEALLOCATE ${name}`);
      await this.client.query(`RESET plan_cache_mode`);
    }
  }

  /** The plan of the one statement `run` sends. */
  async explain(run: () => Promise<unknown>): Promise<Plan> {
    this.plans.length = 0;
    await run();
    expect(this.plans).toHaveLength(1);
    return this.plans[0];
  }

  private literal(value: unknown): string {
    if (value === null || value === undefined) return 'NULL';
    if (value instanceof Date) return this.client.escapeLiteral(value.toISOString());
    if (Array.isArray(value)) return this.client.escapeLiteral(`{${value.join(',')}}`);
    return this.client.escapeLiteral(String(value));
  }
}

describe('performance indexes serve the application’s queries', () => {
  let db: TestDatabase;
  let client: pg.Client;
  let explaining: ExplainingDb;
  let jobs: JobsRepository;
  let worker: JobLifecycle;
  let pipelines: PipelinesRepository;
  let userIds: string[];
  let oldUserId: string;
  let completedJobId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const users = await client.query<{ id: string }>(
      `INSERT INTO users (name, email) SELECT 'User ' || n, 'user' || n || '@example.com' FROM generate_series(1, $1) n
       RETURNING id`,
      [USERS],
    );
    userIds = users.rows.map((r) => r.id);
    // 120k jobs over 100 days: 85 % completed, 5 % failed, 3 % cancelled, 6 % queued, 1 % running.
    await client.query(
      `INSERT INTO jobs (user_id, type, status, input, created_at, run_at, finished_at)
       SELECT ($1::uuid[])[1 + n % $2],
              CASE WHEN n % 3 = 0 THEN 'hash' ELSE 'echo' END,
              CASE WHEN n % 100 < 85 THEN 'completed' WHEN n % 100 < 90 THEN 'failed'
                   WHEN n % 100 < 93 THEN 'cancelled' WHEN n % 100 < 99 THEN 'queued' ELSE 'running' END,
              jsonb_build_object('n', n),
              ts, ts, CASE WHEN n % 100 < 93 THEN ts + interval '1 second' END
         FROM generate_series(1, $3) n, LATERAL (SELECT now() - (n * interval '72 seconds') AS ts) t`,
      [userIds, USERS, JOBS],
    );
    // One more user, active only before everyone else: 20k jobs, all older than the rest.
    const old = await client.query<{ id: string }>(
      `INSERT INTO users (name, email) VALUES ('Old User', 'old@example.com') RETURNING id`,
    );
    oldUserId = old.rows[0].id;
    await client.query(
      `INSERT INTO jobs (user_id, type, status, input, created_at, run_at, finished_at)
       SELECT $1, 'echo', 'completed', '{}', ts, ts, ts + interval '1 second'
         FROM generate_series(1, 20000) n, LATERAL (SELECT now() - interval '100 days' - (n * interval '72 seconds') AS ts) t`,
      [oldUserId],
    );
    await client.query(
      `INSERT INTO results (job_id, output, created_at)
       SELECT id, jsonb_build_object('ok', true), finished_at FROM jobs WHERE status = 'completed'`,
    );
    // 60k pipeline runs over the same users: 70 % completed, 20 % failed, 10 % running.
    await client.query(`INSERT INTO pipelines (user_id, name, steps) SELECT id, 'p', '[{"type":"echo"}]' FROM users`);
    await client.query(
      `INSERT INTO pipeline_jobs (user_id, pipeline_id, status, steps, input, created_at)
       SELECT p.user_id, p.id,
              CASE WHEN n % 10 < 7 THEN 'completed' WHEN n % 10 < 9 THEN 'failed' ELSE 'running' END,
              '[{"type":"echo"}]', '{}', now() - n * interval '90 seconds'
         FROM generate_series(1, 60000) n
         JOIN LATERAL (SELECT id, user_id FROM pipelines ORDER BY id OFFSET n % $1 LIMIT 1) p ON true`,
      [USERS + 1],
    );
    await client.query('ANALYZE pipeline_jobs');
    await client.query('ANALYZE jobs');
    await client.query('ANALYZE results');
    const done = await client.query<{ id: string }>(`SELECT id FROM jobs WHERE status = 'completed' LIMIT 1`);
    completedJobId = done.rows[0].id;
    explaining = new ExplainingDb(client);
    const explainingDb = explaining as unknown as Db;
    jobs = new JobsRepository(explainingDb);
    worker = new JobLifecycle(
      explainingDb,
      { active: false, publish: () => undefined } as unknown as JobChanges,
      loadConfig({}),
    );
    pipelines = new PipelinesRepository(explainingDb);
  }, 120_000);

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it('the table holds the data the plans are made for', async () => {
    const { rows } = await client.query<{ jobs: number; results: number; users: number }>(
      `SELECT (SELECT count(*) FROM jobs)::int AS jobs, (SELECT count(*) FROM results)::int AS results,
              (SELECT count(DISTINCT user_id) FROM jobs)::int AS users`,
    );
    expect(rows[0].jobs).toBeGreaterThanOrEqual(100_000);
    expect(rows[0].results).toBeGreaterThan(100_000 * 0.8);
    expect(rows[0].users).toBe(USERS + 1);
  });

  it('the worker’s claim uses idx_jobs_status, and jobs_queued_user when it goes user by user (generic plan)', async () => {
    const plan = await explaining.explain(() => worker.claim('worker-1', 10, 30_000));
    expect(indexesUsed(plan)).toContain('idx_jobs_status');
    // The fair branch: a loose scan of the queued users and each one's best jobs, never the queue.
    expect(indexesUsed(plan)).toContain('jobs_queued_user');
    expect(seqScans(plan)).toEqual([]);
    // Its counts of running jobs are made inside claim_running_jobs (migration 7), which EXPLAIN
    // does not open: the function's own query, as the database holds it, explained for a user.
    const { rows } = await db.pool.query<{ src: string }>(
      `SELECT prosrc AS src FROM pg_proc WHERE proname = 'claim_running_jobs'`,
    );
    const counting = /RETURN \((SELECT[\s\S]+?)\);/.exec(rows[0].src)![1].replace('p_user_id', '$1::uuid');
    const counted = await db.pool.query<{ 'QUERY PLAN': Array<{ Plan: Plan }> }>(`EXPLAIN (FORMAT JSON) ${counting}`, [
      userIds[0],
    ]);
    const countPlan = counted.rows[0]['QUERY PLAN'][0].Plan;
    expect(indexesUsed(countPlan)).toEqual(['idx_jobs_user_status']);
    expect(seqScans(countPlan)).toEqual([]);
  });

  it('a user’s job list, newest first, uses idx_jobs_user_id — first page and a later one', async () => {
    const first = await explaining.explain(() => jobs.list(userIds[0], {}, 20));
    expect(indexesUsed(first)).toEqual(['idx_jobs_user_id']);
    const later = await explaining.explain(() =>
      jobs.list(userIds[1], {}, 20, {
        createdAt: new Date(Date.now() - 30 * 86_400_000).toISOString(),
        id: completedJobId,
      }),
    );
    expect(indexesUsed(later)).toEqual(['idx_jobs_user_id']);
    const byType = await explaining.explain(() => jobs.list(userIds[2], { type: 'hash' }, 20));
    expect(indexesUsed(byType)).toEqual(['idx_jobs_user_id']);
  });

  it.each(['failed', 'queued', 'cancelled', 'running'] as const)(
    'a user’s job list filtered by status %s uses idx_jobs_user_status',
    async (status) => {
      const plan = await explaining.explain(() => jobs.list(userIds[3], { status }, 20));
      expect(indexesUsed(plan)).toEqual(['idx_jobs_user_status']);
    },
  );

  it('filtered by the status most jobs have, either per-user index serves it with no sort', async () => {
    // 85 % of the user's jobs are completed: walking idx_jobs_user_id and skipping the few others
    // costs the planner about the same as idx_jobs_user_status; both return rows in page order.
    const plan = await explaining.explain(() => jobs.list(userIds[3], { status: 'completed' }, 20));
    expect(indexesUsed(plan)).toHaveLength(1);
    expect(['idx_jobs_user_id', 'idx_jobs_user_status']).toContain(indexesUsed(plan)[0]);
    expect(nodes(plan).map((n) => n['Node Type'])).not.toContain('Sort');
  });

  it('a user whose jobs are all older than everyone else’s still gets idx_jobs_user_id', async () => {
    // The trap idx_jobs_created_at used to set (migration 1764300000002): walking a time index
    // newest-first and filtering by user reads every newer job of every other user first.
    const plan = await explaining.explain(() => jobs.list(oldUserId, {}, 20));
    expect(indexesUsed(plan)).toEqual(['idx_jobs_user_id']);
    const byStatus = await explaining.explain(() => jobs.list(oldUserId, { status: 'completed' }, 20));
    expect(['idx_jobs_user_id', 'idx_jobs_user_status']).toContain(indexesUsed(byStatus)[0]);
  });

  it('a job’s result is fetched through idx_results_job_id', async () => {
    const plan = await explaining.explain(() => jobs.findResult(userIds[0], completedJobId));
    expect(indexesUsed(plan)).toContain('idx_results_job_id');
    expect(seqScans(plan)).toEqual([]);
  });

  it('job retention walks idx_jobs_created_at, oldest first', async () => {
    const plan = await explaining.explain(() => worker.purgeJobs(new Date(Date.now() - 30 * 86_400_000), 1000));
    expect(indexesUsed(plan)).toContain('idx_jobs_created_at');
    expect(seqScans(plan)).toEqual([]);
  });

  it('result retention walks idx_results_created_at, oldest first', async () => {
    const plan = await explaining.explain(() => worker.purgeResults(new Date(Date.now() - 30 * 86_400_000), 1000));
    expect(indexesUsed(plan)).toContain('idx_results_created_at');
    expect(seqScans(plan)).toEqual([]);
  });

  it('a user’s pipeline runs, newest first, use idx_pipeline_jobs_created_at', async () => {
    const plan = await explaining.explain(() => pipelines.listRuns(userIds[0], undefined, 20));
    expect(indexesUsed(plan)).toContain('idx_pipeline_jobs_created_at');
    expect(seqScans(plan)).toEqual([]);
  });

  it.each(['running', 'failed', 'completed'] as const)(
    'a user’s pipeline runs filtered by status %s use idx_pipeline_jobs_status',
    async (status) => {
      const plan = await explaining.explain(() => pipelines.listRuns(userIds[1], status, 20));
      expect(indexesUsed(plan)).toContain('idx_pipeline_jobs_status');
      expect(seqScans(plan)).toEqual([]);
    },
  );
});
