import { Injectable } from '@nestjs/common';
import { stringify } from 'csv-stringify/sync';
import type { Principal } from '../../common/auth/principal.js';
import { AppConfig } from '../../config/config.js';
import type { AdminUsageDto, UsageExportDto, UsageResponseDto } from './dto/usage.dto.js';
import { UsageRepository, type Month } from './usage.repository.js';

/** `YYYY-MM` (or the current month, UTC) as its bounds. */
export function toMonth(label?: string, now = new Date()): Month {
  const [year, month] = label ? label.split('-').map(Number) : [now.getUTCFullYear(), now.getUTCMonth() + 1];
  const start = new Date(Date.UTC(year, month - 1, 1));
  const end = new Date(Date.UTC(year, month, 1));
  return { label: `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`, start, end };
}

@Injectable()
export class UsageService {
  constructor(
    private readonly repo: UsageRepository,
    private readonly config: AppConfig,
  ) {}

  async forUser(me: Principal, monthLabel?: string): Promise<UsageResponseDto> {
    const month = toMonth(monthLabel);
    const limit = this.config.credits[me.tier];
    const [used, byJobType] = await Promise.all([
      this.repo.creditsUsed(me.userId, month),
      this.repo.byJobType(me.userId, month),
    ]);
    return { month: month.label, tier: me.tier, credits: { limit, used, left: Math.max(0, limit - used) }, byJobType };
  }

  /** One row per day (UTC) and job type: JSON, or CSV text with a header row. */
  async export(
    me: Principal,
    monthLabel: string | undefined,
    format: 'csv' | 'json',
  ): Promise<UsageExportDto | string> {
    const month = toMonth(monthLabel);
    const data = await this.repo.exportRows(me.userId, month);
    if (format === 'json') return { month: month.label, data };
    return stringify(data, { header: true, columns: ['userId', 'date', 'jobType', 'jobs', 'credits'] });
  }

  async allUsers(monthLabel?: string): Promise<AdminUsageDto> {
    const month = toMonth(monthLabel);
    const users = await this.repo.allUsers(month);
    return {
      month: month.label,
      data: users.map((u) => {
        const limit = this.config.credits[u.tier];
        return {
          userId: u.id,
          email: u.email,
          tier: u.tier,
          credits: { limit, used: u.used, left: Math.max(0, limit - u.used) },
        };
      }),
    };
  }
}
