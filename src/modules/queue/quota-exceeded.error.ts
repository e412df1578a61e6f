import { DomainError } from '../../common/errors/domain-error.js';

/** Seconds until the next calendar month (UTC) starts, when the credits are counted afresh. */
function secondsToNextMonth(now = new Date()): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}

/** 429 QUOTA_EXCEEDED: the work would take the user past this month's credits; nothing was written. */
export class QuotaExceededError extends DomainError {
  constructor(used: number, limit: number, cost: number) {
    super(
      'QUOTA_EXCEEDED',
      `This needs ${cost} credits and ${Math.max(0, limit - used)} of this month's ${limit} are left; ` +
        'credits are counted afresh on the 1st (UTC)',
      { headers: { 'Retry-After': String(secondsToNextMonth()) } },
    );
  }
}
