import { Injectable } from '@nestjs/common';
import { Db } from '../../database/db.js';
import { ALL_USERS, BY_JOB_TYPE, EXPORT_ROWS, MONTH_CREDITS } from './usage.sql.js';

/** A calendar month (UTC): its first instant and the next month's. */
export interface Month {
  /** `YYYY-MM` */
  label: string;
  start: Date;
  end: Date;
}

@Injectable()
export class UsageRepository {
  constructor(private readonly db: Db) {}

  /** From the primary: the same counter the quota check reads. */
  async creditsUsed(userId: string, month: Month): Promise<number> {
    const [row] = await this.db.query(MONTH_CREDITS, [userId, month.start]);
    return Number(row.used);
  }

  async byJobType(userId: string, month: Month): Promise<Array<{ jobType: string; jobs: number; credits: number }>> {
    const rows = await this.db.reader.query(BY_JOB_TYPE, [userId, month.start, month.end]);
    return rows.map((r) => ({ jobType: r.job_type, jobs: Number(r.jobs), credits: Number(r.credits) }));
  }

  async exportRows(
    userId: string,
    month: Month,
  ): Promise<Array<{ userId: string; date: string; jobType: string; jobs: number; credits: number }>> {
    const rows = await this.db.reader.query(EXPORT_ROWS, [userId, month.start, month.end]);
    return rows.map((r) => ({
      userId: r.user_id,
      date: r.day,
      jobType: r.job_type,
      jobs: Number(r.jobs),
      credits: Number(r.credits),
    }));
  }

  async allUsers(
    month: Month,
  ): Promise<Array<{ id: string; email: string; tier: 'free' | 'pro' | 'enterprise'; used: number }>> {
    const rows = await this.db.reader.query(ALL_USERS, [month.start]);
    return rows.map((r) => ({ ...r, used: Number(r.used) }));
  }
}
