import { describe, expect, it } from 'vitest';
import { parseIsoDate } from './dates.js';

describe('parseIsoDate', () => {
  it('reads dates and date-times with an offset, to the millisecond, in UTC', () => {
    expect(parseIsoDate('2026-11-28')).toEqual(new Date('2026-11-28T00:00:00.000Z'));
    expect(parseIsoDate('2026-11-28T18:07:26Z')).toEqual(new Date('2026-11-28T18:07:26.000Z'));
    expect(parseIsoDate('2026-11-28t18:07z')).toEqual(new Date('2026-11-28T18:07:00.000Z'));
    expect(parseIsoDate('2026-11-28T18:07:26.284531+01:00')).toEqual(new Date('2026-11-28T17:07:26.284Z'));
    expect(parseIsoDate('2024-02-29T23:59:59.9-05:30')).toEqual(new Date('2024-03-01T05:29:59.900Z'));
    expect(parseIsoDate('1970-01-01T00:00:00Z')).toEqual(new Date(0));
    expect(parseIsoDate('9999-12-31T23:59:59.999Z')).toEqual(new Date('9999-12-31T23:59:59.999Z'));
  });

  it('calls other formats and impossible dates malformed', () => {
    for (const text of [
      'March 7, 2026',
      '1',
      '2026',
      '2026-11-28T18:07:26', // no offset: the server's local time
      '2026-11-28 18:07:26Z',
      '2026-02-29',
      '2026-13-01',
      '2026-11-31T00:00:00Z',
      '2026-11-28T24:00:00Z',
      '2026-11-28T23:60:00Z',
      '2026-11-28T23:59:60Z',
      '2026-11-28T12:00:00+24:00',
      '+275760-09-13T00:00:00Z',
      '-271821-04-20T00:00:00Z',
      '',
    ]) {
      expect(parseIsoDate(text), text).toBe('malformed');
    }
  });

  it('calls well-formed dates outside years 1970–9999 (UTC) out of range', () => {
    for (const text of [
      '1969-12-31T23:59:59.999Z',
      '0001-01-01',
      '1970-01-01T00:30:00+01:00',
      '9999-12-31T23:00:00-05:00',
    ]) {
      expect(parseIsoDate(text), text).toBe('out-of-range');
    }
  });
});
