import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { DomainError } from '../errors/domain-error.js';
import { MAX_YEAR, MIN_YEAR } from '../http/dates.js';

/** `?limit=&cursor=` of every list endpoint. */
export class PageQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit: number = 20;

  // No length or format check here: any cursor the server did not issue is a 400 INVALID_CURSOR
  // (decodeCursor), not a 422.
  @ApiPropertyOptional({ description: 'Opaque cursor from the previous page’s `nextCursor`; any other value is 400' })
  @IsOptional()
  @IsString()
  cursor?: string;
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** Position after the last row of a page, in the list's sort order (created_at DESC, id DESC). */
export interface Keyset {
  /** `created_at::text`: PostgreSQL's own rendering keeps the microseconds a JS Date would drop. */
  createdAt: string;
  id: string;
}

/** A UUID as PostgreSQL writes it (lowercase). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * `timestamptz::text` as PostgreSQL writes it (DateStyle ISO): `2026-11-28 18:07:26.284531+00`,
 * the fraction without trailing zeros (none at all for whole seconds), the session's UTC offset as
 * `+hh`, `+hh:mm` or `+hh:mm:ss`.
 */
const PG_TIMESTAMPTZ =
  /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{0,5}[1-9])?[+-](\d{2})(?::(\d{2})(?::(\d{2}))?)?$/;

/** Whether `text` is a timestamp PostgreSQL could have written for `created_at`, within MIN_YEAR..MAX_YEAR. */
function isPgTimestamp(text: string): boolean {
  const m = PG_TIMESTAMPTZ.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes, offsetSeconds] = m
    .slice(1)
    .map((part) => Number(part ?? 0));
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return (
    year >= MIN_YEAR &&
    year <= MAX_YEAR &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHours <= 15 &&
    offsetMinutes <= 59 &&
    offsetSeconds <= 59
  );
}

/** The longest cursor encodeCursor makes is about 110 characters; anything much longer was not issued. */
const MAX_CURSOR_LENGTH = 256;

export function encodeCursor(keyset: Keyset): string {
  return Buffer.from(JSON.stringify([keyset.createdAt, keyset.id])).toString('base64url');
}

function invalidCursor(): DomainError {
  return new DomainError(
    'INVALID_CURSOR',
    'The cursor was not issued by this server: pass the previous page’s nextCursor unchanged',
    { errors: [{ field: 'cursor', message: 'cursor is not a valid page cursor' }] },
  );
}

/**
 * The keyset of a cursor this server issued, or a 400 INVALID_CURSOR. Strict, because its parts
 * go to PostgreSQL as `timestamptz` and `uuid`: the timestamp must be text PostgreSQL itself
 * writes (a JS Date would accept `"1"` or year -271821, which PostgreSQL refuses as a 500), and
 * the cursor must be exactly what encodeCursor makes of it (no padding, no stray characters).
 */
export function decodeCursor(cursor: string | undefined): Keyset | undefined {
  if (cursor === undefined) return undefined;
  if (cursor.length > MAX_CURSOR_LENGTH) throw invalidCursor();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    // A cursor is opaque: whatever fails to parse was not issued here.
    throw invalidCursor();
  }
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    typeof value[0] !== 'string' ||
    typeof value[1] !== 'string' ||
    !isPgTimestamp(value[0]) ||
    !UUID.test(value[1])
  ) {
    throw invalidCursor();
  }
  const keyset = { createdAt: value[0], id: value[1] };
  if (encodeCursor(keyset) !== cursor) throw invalidCursor();
  return keyset;
}

/**
 * Builds a page from `limit + 1` rows fetched in order: the extra row only says whether there is
 * a next page.
 */
export function toPage<R extends { cursor_ts: string; id: string }, T>(
  rows: R[],
  limit: number,
  map: (row: R) => T,
): Page<T> {
  const more = rows.length > limit;
  const pageRows = more ? rows.slice(0, limit) : rows;
  const last = pageRows.at(-1);
  return {
    data: pageRows.map(map),
    nextCursor: more && last ? encodeCursor({ createdAt: last.cursor_ts, id: last.id }) : null,
  };
}

/**
 * A whole short list (API keys, the catalogs) in the shape every list has, so one client type and
 * one loop serve all of them: `nextCursor` is always null.
 */
export function wholeList<T>(data: T[]): Page<T> {
  return { data, nextCursor: null };
}

/** Documents the `{data, nextCursor: null}` of wholeList for a given item DTO. */
export function wholeListSchema(itemRef: string): Record<string, unknown> {
  return {
    type: 'object',
    required: ['data', 'nextCursor'],
    properties: {
      data: { type: 'array', items: { $ref: itemRef } },
      nextCursor: {
        type: 'string',
        nullable: true,
        description: 'Always null: the whole list is in `data` (the shape every list shares)',
      },
    },
  };
}

/** Documents `{data, nextCursor}` for a given item DTO in Swagger. */
export function pageSchema(itemRef: string): Record<string, unknown> {
  return {
    type: 'object',
    required: ['data', 'nextCursor'],
    properties: {
      data: { type: 'array', items: { $ref: itemRef } },
      nextCursor: { type: 'string', nullable: true, description: 'Pass as `cursor` to get the next page' },
    },
  };
}
