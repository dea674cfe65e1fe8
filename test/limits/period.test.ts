import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatInZone, isValidTimeZone, periodWindow } from '../../src/limits/index.ts';

const window = (period: Parameters<typeof periodWindow>[0], zone: string, iso: string) => {
  const w = periodWindow(period, zone, new Date(iso));
  return {
    key: w.key,
    start: w.startMs === undefined ? undefined : formatInZone(w.startMs, zone),
    resetsAt: w.resetsAtMs === undefined ? undefined : formatInZone(w.resetsAtMs, zone),
    hours: w.startMs === undefined ? undefined : ((w.resetsAtMs ?? 0) - w.startMs) / 3_600_000,
  };
};

describe('calendar periods', () => {
  test('a New York day is 23 hours when DST starts and 25 when it ends', () => {
    assert.deepEqual(window('daily', 'America/New_York', '2026-03-08T12:00:00Z'), {
      key: '2026-03-08',
      start: '2026-03-08T00:00:00-05:00',
      resetsAt: '2026-03-09T00:00:00-04:00',
      hours: 23,
    });
    assert.deepEqual(window('daily', 'America/New_York', '2026-11-02T04:59:59Z'), {
      key: '2026-11-01',
      start: '2026-11-01T00:00:00-04:00',
      resetsAt: '2026-11-02T00:00:00-05:00',
      hours: 25,
    });
  });

  test('where DST skips midnight the day starts when the clock resumes', () => {
    // Santiago jumps from 00:00 to 01:00 on 6 September 2026.
    assert.equal(
      window('daily', 'America/Santiago', '2026-09-06T12:00:00Z').start,
      '2026-09-06T01:00:00-03:00',
    );
  });

  test('weeks are ISO weeks starting Monday, including week 53 across a new year', () => {
    assert.deepEqual(window('weekly', 'America/New_York', '2026-03-09T03:59:59Z'), {
      key: '2026-W10',
      start: '2026-03-02T00:00:00-05:00',
      resetsAt: '2026-03-09T00:00:00-04:00',
      hours: 167,
    });
    assert.equal(window('weekly', 'America/New_York', '2026-03-09T04:00:00Z').key, '2026-W11');
    assert.equal(window('weekly', 'UTC', '2026-12-28T00:00:00Z').key, '2026-W53');
    assert.equal(window('weekly', 'UTC', '2027-01-03T23:59:59Z').key, '2026-W53');
    assert.equal(window('weekly', 'UTC', '2027-01-04T00:00:00Z').key, '2027-W01');
    assert.equal(window('weekly', 'UTC', '2025-12-29T00:00:00Z').key, '2026-W01');
  });

  test('months and years reset on local calendar boundaries', () => {
    assert.deepEqual(window('monthly', 'America/New_York', '2026-12-01T04:59:59Z'), {
      key: '2026-11',
      start: '2026-11-01T00:00:00-04:00',
      resetsAt: '2026-12-01T00:00:00-05:00',
      hours: 721,
    });
    assert.equal(window('monthly', 'America/New_York', '2026-12-01T05:00:00Z').key, '2026-12');
    assert.deepEqual(window('yearly', 'Asia/Kolkata', '2026-12-31T18:30:00Z'), {
      key: '2027',
      start: '2027-01-01T00:00:00+05:30',
      resetsAt: '2028-01-01T00:00:00+05:30',
      hours: 8760,
    });
  });

  test('total never resets', () => {
    assert.deepEqual(periodWindow('total', 'UTC', new Date()), { key: 'total' });
  });

  test('the cached window is left when the period ends', () => {
    assert.equal(window('daily', 'Europe/Berlin', '2026-11-24T22:59:59Z').key, '2026-11-24');
    assert.equal(window('daily', 'Europe/Berlin', '2026-11-24T23:00:00Z').key, '2026-11-25');
    assert.equal(window('daily', 'Europe/Berlin', '2026-11-24T12:00:00Z').key, '2026-11-24');
  });

  test('unknown zones are recognised', () => {
    assert.equal(isValidTimeZone('Europe/Berlin'), true);
    assert.equal(isValidTimeZone('Mars/Olympus_Mons'), false);
    assert.throws(() => periodWindow('daily', 'Mars/Olympus_Mons', new Date()), RangeError);
  });
});
