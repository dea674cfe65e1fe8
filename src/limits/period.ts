// Calendar periods of budgets in an IANA time zone. Node 24 has no Temporal, so local wall time is
// read with Intl.DateTimeFormat and turned back into instants by probing the zone's UTC offset; days
// are as long as the zone says (23 or 25 hours across a DST change), weeks start on Monday (ISO).

export type Period = 'daily' | 'weekly' | 'monthly' | 'yearly' | 'total';

export interface PeriodWindow {
  /** Part of the counter id: `2026-03-08`, `2026-W10`, `2026-03`, `2026`, or `total`. */
  key: string;
  /** First instant of the period (epoch ms); absent for `total`. */
  startMs?: number;
  /** First instant of the next period (epoch ms); absent for `total`. */
  resetsAtMs?: number;
}

interface Civil {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
}

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** True when `zone` is an IANA zone this runtime knows. */
export function isValidTimeZone(zone: string): boolean {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

function civilAt(ms: number, zone: string): Civil {
  const c: Civil = { y: 0, mo: 0, d: 0, h: 0, mi: 0, s: 0 };
  for (const part of formatter(zone).formatToParts(ms)) {
    switch (part.type) {
      case 'year':
        c.y = Number(part.value);
        break;
      case 'month':
        c.mo = Number(part.value);
        break;
      case 'day':
        c.d = Number(part.value);
        break;
      case 'hour':
        c.h = Number(part.value);
        break;
      case 'minute':
        c.mi = Number(part.value);
        break;
      case 'second':
        c.s = Number(part.value);
        break;
    }
  }
  return c;
}

/** The zone's offset from UTC at an instant, in ms (New York in winter: -5 h). */
function offsetAt(ms: number, zone: string): number {
  const c = civilAt(ms, zone);
  return Date.UTC(c.y, c.mo - 1, c.d, c.h, c.mi, c.s) - Math.floor(ms / 1000) * 1000;
}

/**
 * The first instant at which the zone's wall clock shows midnight of the civil date (y, mo, d);
 * month and day may overflow (day 32 is the 1st of the next month). Where midnight is skipped by a
 * DST jump the day starts at the end of the gap.
 */
function startOfDay(y: number, mo: number, d: number, zone: string): number {
  const wall = Date.UTC(y, mo - 1, d);
  const want = new Date(wall);
  // At most one offset change falls within a day of any date; sample both sides of it.
  const candidates = [...new Set([offsetAt(wall - DAY_MS, zone), offsetAt(wall + DAY_MS, zone)])].map(
    (offset) => wall - offset,
  );
  const exact = candidates.filter((ms) => {
    const c = civilAt(ms, zone);
    return (
      c.y === want.getUTCFullYear() &&
      c.mo === want.getUTCMonth() + 1 &&
      c.d === want.getUTCDate() &&
      c.h === 0 &&
      c.mi === 0 &&
      c.s === 0
    );
  });
  return exact.length > 0 ? Math.min(...exact) : Math.max(...candidates);
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function isoWeek(y: number, mo: number, d: number): { monday: Date; key: string } {
  const date = new Date(Date.UTC(y, mo - 1, d));
  const monday = new Date(date.getTime() - ((date.getUTCDay() + 6) % 7) * DAY_MS);
  const thursday = new Date(monday.getTime() + 3 * DAY_MS);
  const weekYear = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(weekYear, 0, 1)) / (7 * DAY_MS)) + 1;
  return { monday, key: `${weekYear}-W${pad(week)}` };
}

function computeWindow(
  period: Exclude<Period, 'total'>,
  zone: string,
  nowMs: number,
): Required<PeriodWindow> {
  const { y, mo, d } = civilAt(nowMs, zone);
  switch (period) {
    case 'daily':
      return {
        key: `${y}-${pad(mo)}-${pad(d)}`,
        startMs: startOfDay(y, mo, d, zone),
        resetsAtMs: startOfDay(y, mo, d + 1, zone),
      };
    case 'weekly': {
      const { monday, key } = isoWeek(y, mo, d);
      const [wy, wm, wd] = [monday.getUTCFullYear(), monday.getUTCMonth() + 1, monday.getUTCDate()];
      return { key, startMs: startOfDay(wy, wm, wd, zone), resetsAtMs: startOfDay(wy, wm, wd + 7, zone) };
    }
    case 'monthly':
      return {
        key: `${y}-${pad(mo)}`,
        startMs: startOfDay(y, mo, 1, zone),
        resetsAtMs: startOfDay(y, mo + 1, 1, zone),
      };
    case 'yearly':
      return { key: `${y}`, startMs: startOfDay(y, 1, 1, zone), resetsAtMs: startOfDay(y + 1, 1, 1, zone) };
  }
}

// Boundaries are costly to compute (several Intl calls) and change once a period: reuse the last
// window of each (period, zone) while `now` stays inside it.
const windowCache = new Map<string, Required<PeriodWindow>>();

/** The period containing `now` in `zone`. Throws RangeError for an unknown zone. */
export function periodWindow(period: Period, zone: string, now: Date | number): PeriodWindow {
  if (period === 'total') return { key: 'total' };
  const nowMs = typeof now === 'number' ? now : now.getTime();
  const cacheKey = `${period}|${zone}`;
  const cached = windowCache.get(cacheKey);
  if (cached && cached.startMs <= nowMs && nowMs < cached.resetsAtMs) return cached;
  const w = Object.freeze(computeWindow(period, zone, nowMs));
  windowCache.set(cacheKey, w);
  return w;
}

// Reset times repeat (a period's end, a window bucket's end): remember recent renderings.
const formatted = new Map<string, string>();

/** An instant as ISO-8601 local time with the zone's offset, e.g. `2026-12-01T00:00:00-05:00`. */
export function formatInZone(ms: number, zone: string): string {
  const cacheKey = `${zone}|${ms}`;
  let text = formatted.get(cacheKey);
  if (text === undefined) {
    text = renderInZone(ms, zone);
    if (formatted.size >= 4096) formatted.clear();
    formatted.set(cacheKey, text);
  }
  return text;
}

function renderInZone(ms: number, zone: string): string {
  const c = civilAt(ms, zone);
  const offsetMin = Math.round(offsetAt(ms, zone) / 60_000);
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return (
    `${pad(c.y, 4)}-${pad(c.mo)}-${pad(c.d)}T${pad(c.h)}:${pad(c.mi)}:${pad(c.s)}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}
