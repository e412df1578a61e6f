import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { ValidateBy, type ValidationArguments } from 'class-validator';

/**
 * Dates a client may send (and cursors may carry) lie in years MIN_YEAR..MAX_YEAR. PostgreSQL's
 * `timestamptz` ends in 294276 AD while a JS Date reaches ±275760, so without a bound a date like
 * `-271821-04-20T00:00:00Z` passes JS and fails in the database as a 500. Conveyor has no use for
 * dates before the Unix epoch, and four-digit years are what ISO 8601 promises without agreement.
 */
export const MIN_YEAR = 1970;
export const MAX_YEAR = 9999;

const MIN_TIME = Date.UTC(MIN_YEAR, 0, 1);
const MAX_TIME = Date.UTC(MAX_YEAR, 11, 31, 23, 59, 59, 999);

/**
 * ISO 8601 as RFC 3339 profiles it: a date (`2026-11-28`, midnight UTC) or a date-time with its
 * offset (`2026-11-28T18:07:26.284Z`, `…+01:00`). A date-time without an offset is refused: it
 * would mean the server's local time.
 */
const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):(\d{2})))?$/;

const daysIn = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();

/**
 * Reads an ISO 8601 date or date-time (see ISO_DATE) into a Date, checking every component itself
 * rather than trusting `Date.parse` (which also takes `"March 7"`, `"1"` and rolls `02-30` over).
 * `malformed` when it is not such a text, `out-of-range` when it is but lies outside
 * MIN_YEAR..MAX_YEAR (in UTC).
 */
export function parseIsoDate(text: string): Date | 'malformed' | 'out-of-range' {
  const m = ISO_DATE.exec(text);
  if (!m) return 'malformed';
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', , sign, oh = '0', om = '0'] = m;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number);
  const [offsetHours, offsetMinutes] = [oh, om].map(Number);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return 'malformed';
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) return 'malformed';
  const offsetMs = (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  const ms = Number(fraction.padEnd(3, '0').slice(0, 3));
  const time = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMs;
  if (time < MIN_TIME || time > MAX_TIME) return 'out-of-range';
  return new Date(time);
}

function dateMessage({ property, value }: ValidationArguments): string {
  if (typeof value === 'string' && parseIsoDate(value) === 'out-of-range') {
    return `${property} must lie between ${MIN_YEAR}-01-01 and ${MAX_YEAR}-12-31 (UTC)`;
  }
  return `${property} must be an ISO 8601 date (2026-11-28) or date-time with a time zone (2026-11-28T18:07:26Z)`;
}

/**
 * A date field of a body or query: an ISO 8601 text becomes a Date within MIN_YEAR..MAX_YEAR;
 * anything else (another format, a number, an out-of-range year) stays as sent and fails
 * validation with a 422 naming the field. Combine with `@IsOptional()` for optional fields.
 */
export function IsIsoDate(): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }: { value: unknown }) => {
      if (typeof value !== 'string') return value;
      const date = parseIsoDate(value);
      return date instanceof Date ? date : value;
    }),
    ValidateBy({
      name: 'isIsoDate',
      validator: { validate: (value: unknown) => value instanceof Date, defaultMessage: dateMessage },
    }),
  );
}
