// Time windows in a named IANA time zone: whether an instant falls in a rule's opening hours, and the exact
// next opening, across daylight-saving gaps and overlaps. Pure and browser-safe: Intl (full ICU in Node 20 and
// browsers) turns instants into wall time; nothing reads the clock. An opening is a wall-time interval
// [from, to) on listed weekdays: an instant is inside when its wall time in the zone is, so a repeated hour
// (autumn) is inside or outside twice, and wall times skipped in spring simply do not occur.

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];
export const WEEKDAY_NAMES: Readonly<Record<Weekday, string>> = {
  mon: "Monday",
  tue: "Tuesday",
  wed: "Wednesday",
  thu: "Thursday",
  fri: "Friday",
  sat: "Saturday",
  sun: "Sunday",
};

export type Opening = { days: Weekday[]; from: string; to: string };
export type TimeWindow = { zone: string; open: Opening[]; outside: "defer" | "deny"; reason?: string };

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** How far ahead the next opening is looked for: two weeks covers any weekly window, whatever DST did. */
const HORIZON = 15 * DAY;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Whether Intl knows the zone, and its spelling as Intl resolves it (null when unknown). */
export function resolveZone(zone: string): string | null {
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

/** The wall time of instant `t` in `zone`, as milliseconds of a UTC calendar (so day and weekday read off it). */
export function wallTime(t: number, zone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(new Date(t))) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = parts;
  const ms = ((t % 1000) + 1000) % 1000;
  return Date.UTC(year, month - 1, day, hour % 24, minute, second, ms);
}

const offsetAt = (t: number, zone: string) => wallTime(t, zone) - t;

/** "08:30" → minutes since midnight; "24:00" → 1440. */
export function minutesOf(hhmm: string): number {
  const [h = "0", m = "0"] = hhmm.split(":");
  return Number(h) * 60 + Number(m);
}

/** Monday 0 … Sunday 6, for a wall time as `wallTime` gives it. */
const weekdayOf = (wall: number): Weekday => WEEKDAYS[(new Date(wall).getUTCDay() + 6) % 7] ?? "mon";

/** Whether instant `t` is inside one of the window's openings, by its wall time in the window's zone. */
export function isOpen(window: Pick<TimeWindow, "zone" | "open">, t: number): boolean {
  const wall = wallTime(t, window.zone);
  const day = weekdayOf(wall);
  const inDay = wall - Math.floor(wall / DAY) * DAY;
  return window.open.some(
    (o) => o.days.includes(day) && inDay >= minutesOf(o.from) * MINUTE && inDay < minutesOf(o.to) * MINUTE,
  );
}

/** Pieces of [from, to) over which the zone's offset is constant, found to the millisecond. */
function constantOffsetSpans(
  zone: string,
  from: number,
  to: number,
): { a: number; b: number; off: number }[] {
  const spans: { a: number; b: number; off: number }[] = [];
  let a = from;
  let off = offsetAt(from, zone);
  for (let probe = from + HOUR; a < to; probe += HOUR) {
    const end = Math.min(probe, to);
    const offEnd = offsetAt(end, zone);
    if (offEnd === off && end < to) continue;
    if (offEnd === off) {
      spans.push({ a, b: to, off });
      break;
    }
    // The offset changed in (end - HOUR, end]: the first instant with the new offset, by bisection.
    let lo = Math.max(a, end - HOUR);
    let hi = end;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (offsetAt(mid, zone) === off) lo = mid;
      else hi = mid;
    }
    spans.push({ a, b: hi, off });
    a = hi;
    off = offsetAt(hi, zone);
  }
  return spans;
}

/**
 * The first instant at or after `now` inside the window (`now` itself when open), or null when none comes in
 * the next two weeks. Exact to the millisecond: within each span of constant offset, wall time is instant plus
 * offset, so each opening's wall interval maps to one instant interval; a wall time skipped by a spring gap
 * opens at the first instant after the gap, and an autumn repeat opens again when the hour comes round.
 */
export function nextOpening(window: Pick<TimeWindow, "zone" | "open">, now: number): number | null {
  let best: number | null = null;
  for (const { a, b, off } of constantOffsetSpans(window.zone, now, now + HORIZON)) {
    if (best !== null && a >= best) break;
    for (let day = Math.floor((a + off) / DAY) * DAY; day < b + off; day += DAY) {
      const weekday = weekdayOf(day);
      for (const o of window.open) {
        if (!o.days.includes(weekday)) continue;
        const start = Math.max(day + minutesOf(o.from) * MINUTE - off, a);
        const end = Math.min(day + minutesOf(o.to) * MINUTE - off, b);
        if (start < end && (best === null || start < best)) best = start;
      }
    }
  }
  return best;
}

/** "Monday 00:00": an instant's weekday and wall time in the zone, as reasons name the next opening. */
export function formatWallTime(t: number, zone: string): string {
  const wall = wallTime(t, zone);
  const d = new Date(wall);
  const hh = String(d.getUTCHours()).padStart(2, "0");
  const mm = String(d.getUTCMinutes()).padStart(2, "0");
  return `${WEEKDAY_NAMES[weekdayOf(wall)]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${hh}:${mm}`;
}

const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
