import { Logger } from '@nestjs/common';
import pg from 'pg';
import { REPLAY_LSN } from './replicas.sql.js';

/** How often each replica is checked. */
export const REPLICA_CHECK_INTERVAL_MS = 250;
/** A check that takes longer than this marks the replica down. */
const CHECK_TIMEOUT_MS = 1000;
/** Primary WAL positions remembered (at one per check: 10 s), to date a replica's replay position. */
const SAMPLES = 40;

/** What GET /health/detailed and the metrics show of one replica (its URL without credentials). */
export interface ReplicaStatus {
  name: string;
  up: boolean;
  /** Milliseconds since the replica was last seen holding everything committed on the primary; undefined when never. */
  lagMs: number | undefined;
  /** Why it is down. */
  error?: string;
}

export interface Replica {
  readonly name: string;
  readonly pool: pg.Pool;
  up: boolean;
  /**
   * Every transaction committed on the primary before this time (ms since the epoch) is visible on
   * the replica. 0 until a check has dated it.
   */
  caughtUpAt: number;
  error?: string;
}

/** "16/B374D848" → a comparable number. */
export function parseLsn(text: string): bigint {
  const [high, low] = text.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

/** host:port/database of a URL, never its user or password. */
export function replicaName(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
}

/**
 * The streaming replicas of DATABASE_REPLICA_URLS, and how far behind each one is.
 *
 * A replica's lag is measured against the primary's own WAL position, on this process's clock,
 * with no trust in either server's clock: every check first samples the primary's position
 * (`pg_current_wal_insert_lsn()`) with the time it was taken, then reads each replica's replay position.
 * A replica that has replayed a sample's position holds every transaction committed before that
 * sample's time: that time is its `caughtUpAt`. Its lag is how long ago that was. A replica that
 * cannot be reached, times out, or is no longer in recovery (promoted) is down until a check
 * succeeds again.
 *
 * Db.reader picks a replica whose `caughtUpAt` is recent enough (see Db).
 */
export class ReplicaSet {
  private readonly logger = new Logger('Replicas');
  readonly replicas: Replica[];
  private readonly samples: Array<{ at: number; lsn: bigint }> = [];
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private next = 0;

  constructor(
    urls: string[],
    poolSize: number,
    applicationName: string,
    /** Runs PRIMARY_LSN on the primary. */
    private readonly primaryLsn: () => Promise<string>,
  ) {
    this.replicas = urls.map((url) => {
      const pool = new pg.Pool({
        connectionString: url,
        max: poolSize,
        // A dead replica must cost a read little: it fails fast and the read goes to the primary.
        connectionTimeoutMillis: CHECK_TIMEOUT_MS,
        idleTimeoutMillis: 30_000,
        application_name: applicationName,
      });
      const replica: Replica = { name: replicaName(url), pool, up: false, caughtUpAt: 0 };
      pool.on('error', (error) => this.down(replica, error));
      return replica;
    });
  }

  /** The first check, then one every REPLICA_CHECK_INTERVAL_MS. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => {
      this.checking ??= this.check().finally(() => (this.checking = undefined));
    }, REPLICA_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.checking;
    await Promise.all(this.replicas.map((replica) => replica.pool.end()));
  }

  /**
   * A replica that holds everything committed before `notBefore` (ms since the epoch), taken in
   * turn; undefined when none does (the read goes to the primary).
   */
  pick(notBefore: number): Replica | undefined {
    const count = this.replicas.length;
    for (let i = 0; i < count; i += 1) {
      const replica = this.replicas[(this.next + i) % count];
      if (replica.up && replica.caughtUpAt >= notBefore) {
        this.next = (this.next + i + 1) % count;
        return replica;
      }
    }
    return undefined;
  }

  status(now = Date.now()): ReplicaStatus[] {
    return this.replicas.map((replica) => ({
      name: replica.name,
      up: replica.up,
      lagMs: replica.caughtUpAt > 0 ? Math.max(0, now - replica.caughtUpAt) : undefined,
      ...(replica.error ? { error: replica.error } : {}),
    }));
  }

  /** A read failed for a reason of the replica (connection, recovery conflict): skip it until it checks out again. */
  down(replica: Replica, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const was = replica.up;
    replica.up = false;
    replica.error = message;
    if (was) this.logger.warn({ replica: replica.name, error: message }, 'replica down: its reads go to the primary');
  }

  async check(): Promise<void> {
    const at = Date.now();
    try {
      this.samples.push({ at, lsn: parseLsn(await this.primaryLsn()) });
      if (this.samples.length > SAMPLES) this.samples.shift();
    } catch {
      // The primary did not answer: no new date this time; the replicas' lag grows until it does.
    }
    await Promise.all(this.replicas.map((replica) => this.checkOne(replica)));
  }

  private async checkOne(replica: Replica): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        replica.pool.query<{ lsn: string | null; recovery: boolean }>(REPLAY_LSN.text),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
        }),
      ]);
      const { lsn, recovery } = result.rows[0];
      if (!recovery || lsn === null) throw new Error('not a streaming replica (not in recovery)');
      const replayed = parseLsn(lsn);
      for (let i = this.samples.length - 1; i >= 0; i -= 1) {
        if (this.samples[i].lsn <= replayed) {
          replica.caughtUpAt = Math.max(replica.caughtUpAt, this.samples[i].at);
          break;
        }
      }
      if (!replica.up) this.logger.log({ replica: replica.name }, 'replica up: serving reads');
      replica.up = true;
      replica.error = undefined;
    } catch (error) {
      this.down(replica, error);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * True when a read failed because of the replica rather than the statement: it could not connect,
 * the connection broke or the server is shutting down (08…, 57P…), or replay cancelled the query
 * (40001). Such a read is run again on the primary.
 */
export function isReplicaFailure(error: unknown): boolean {
  if (!(error instanceof pg.DatabaseError)) return true;
  return /^(08|57P|40001)/.test(error.code ?? '');
}
