import { describe, expect, it } from 'vitest';
import type { DomainError } from '../errors/domain-error.js';
import { decodeCursor, encodeCursor } from './pagination.js';

const ID = '0b5c2f0e-8d1a-4c55-9a43-2f6f1b7f0c11';

function codeOf(cursor: string): string | undefined {
  try {
    decodeCursor(cursor);
    return undefined;
  } catch (error) {
    return (error as DomainError).code;
  }
}

describe('decodeCursor', () => {
  it('reads back every timestamp text PostgreSQL writes for created_at', () => {
    for (const createdAt of [
      '2026-11-28 18:07:26.284531+00',
      '2026-11-28 18:07:26.28+00',
      '2026-11-28 18:07:26+00',
      '2024-02-29 00:00:00.000001-03:30',
      '1970-01-01 00:00:00+05:45',
      '9999-12-31 23:59:59.999999+00',
    ]) {
      const cursor = encodeCursor({ createdAt, id: ID });
      expect(decodeCursor(cursor)).toEqual({ createdAt, id: ID });
    }
    expect(decodeCursor(undefined)).toBeUndefined();
  });

  it('refuses anything else with 400 INVALID_CURSOR', () => {
    const forged = [
      ['1', ID], // the issue's: Date.parse takes it
      ['-271821-04-20 00:00:00+00', ID],
      ['1969-12-31 23:59:59+00', ID],
      ['2026-02-29 00:00:00+00', ID], // not a leap year
      ['2026-11-28 24:00:00+00', ID],
      ['2026-11-28 18:07:26.280+00', ID], // PostgreSQL drops trailing zeros
      ['2026-11-28 18:07:26.1234567+00', ID],
      ['2026-11-28T18:07:26Z', ID],
      ['2026-11-28 18:07:26', ID],
      ['2026-11-28 18:07:26+16', ID],
      ['2026-11-28 18:07:26+00', ID.toUpperCase()],
      ['2026-11-28 18:07:26+00', 'x'],
    ].map(([createdAt, id]) => encodeCursor({ createdAt, id }));
    const valid = encodeCursor({ createdAt: '2026-11-28 18:07:26+00', id: ID });
    for (const cursor of [...forged, `${valid}=`, ` ${valid}`, valid.slice(0, -2), '', 'e30', 'x'.repeat(1000)]) {
      expect(codeOf(cursor), cursor).toBe('INVALID_CURSOR');
    }
    const error = (() => {
      try {
        return decodeCursor('nope');
      } catch (e) {
        return e as DomainError;
      }
    })() as DomainError;
    expect(error.errors).toEqual([{ field: 'cursor', message: 'cursor is not a valid page cursor' }]);
  });
});
